"""Fixtures of the rollout tests: a retrained churn model (a second version that fits the
contract), a model that does not fit, and keys of two people of role owner and one viewer."""

from __future__ import annotations

from pathlib import Path

import pytest

from doorstep.services.rollout.stages import Caller
from doorstep.store import Store


@pytest.fixture(scope="session")
def retrained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A churn model trained on other customers: same inputs, other scores."""
    from doorstep.examples.churn import generate_customers, train_model

    path = tmp_path_factory.mktemp("retrained") / "model-v2.lgb.txt"
    booster = train_model(generate_customers(3_000, seed=11), trees=25, seed=11)
    booster.save_model(str(path))  # type: ignore[attr-defined]
    return path


@pytest.fixture(scope="session")
def misfit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model of two unnamed columns: it does not fit the churn contract."""
    import lightgbm as lgb
    import numpy as np

    rng = np.random.default_rng(3)
    booster = lgb.train(
        {"objective": "binary", "verbosity": -1, "num_threads": 1},
        lgb.Dataset(rng.normal(size=(300, 2)), label=rng.integers(0, 2, 300)),
        num_boost_round=3,
    )
    path = tmp_path_factory.mktemp("misfit") / "other.lgb.txt"
    booster.save_model(str(path))
    return path


def person(store: Store, name: str, role: str = "owner") -> Caller:
    """A caller holding a new key of ``role`` named ``name``."""
    key, _ = store.create_key(name, role, actor="test")  # type: ignore[arg-type]
    return Caller(f"key:{name}", key)
