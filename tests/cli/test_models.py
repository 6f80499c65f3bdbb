"""``doorstep models``: register (a model that fits, one that does not), list, canary, shadow,
four eyes with two keys (refused with one), rollback and history, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from doorstep.cli.main import app as cli
from doorstep.store import Store, open_store

runner = CliRunner()


def models(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    wide = {"COLUMNS": "250", **(env or {})}  # tables on one line each
    result = runner.invoke(cli, ["models", *args], env=wide)
    return result.exit_code, " ".join(result.output.split())


def retrain(path: Path) -> Path:
    from doorstep.examples.churn import generate_customers, train_model

    booster = train_model(generate_customers(2_000, seed=11), trees=20, seed=11)
    booster.save_model(str(path))  # type: ignore[attr-defined]
    return path


@pytest.mark.slow
def test_register_try_promote_with_two_keys_and_roll_back(
    churn_app: Path, store_url: str, tmp_path: Path
) -> None:
    with open_store(store_url) as store:
        walk_through(churn_app, store, store_url, tmp_path)


def walk_through(churn_app: Path, store: Store, store_url: str, tmp_path: Path) -> None:
    from doorstep.services.apps.loading import load_app
    from doorstep.services.governance.audit import verify_audit
    from doorstep.services.rollout.register import register_spec_model

    first = load_app(churn_app / "doorstep.yaml")
    register_spec_model(first, store, actor="doorstep serve", models=tmp_path / "kept")
    spec = ["--spec", str(churn_app), "--db", store_url]
    kept = ["--models", str(tmp_path / "kept")]
    model = retrain(tmp_path / "model-v2.lgb.txt")
    code, out = models("register", str(model), "--app", "churn", "--version", "2",
                       "--notes", "retrained on Q4", *spec, *kept)  # fmt: skip
    assert code == 0 and "Registered version 2 of app churn" in out and "candidate" in out
    misfit = tmp_path / "missing.lgb.txt"
    code, out = models("register", str(misfit), "--app", "churn", "--version", "3", *spec)
    assert code != 0 and "model.path" in out and "does not fit" in out
    code, out = models("canary", "churn", "--version", "2", "--share", "10", "--db", store_url)
    assert code == 0 and "10% of the entities" in out
    code, out = models("list", "churn", *spec)
    assert code == 0 and "canary 10%" in out and "retrained on Q4" in out
    assert models("canary", "churn", "--stop", "--db", store_url)[0] == 0
    assert models("shadow", "churn", "--version", "2", "--db", store_url)[0] == 0
    assert models("shadow", "churn", "--stop", "--db", store_url)[0] == 0
    ana = store.create_key("ana", "owner", actor="t")[1]
    ben = store.create_key("ben", "admin", actor="t")[1]
    promote = ["churn", "--version", "2", "--reason", "better", *spec]
    code, out = models("promote", *promote)
    assert code != 0 and "API key" in out  # four eyes need to know who is who
    code, out = models("promote", *promote, "--key", ana)
    assert code == 0, out
    code, out = models("approve", *promote, env={"DOORSTEP_API_KEY": ana})
    assert code != 0 and "four eyes" in out
    code, out = models("approve", *promote, "--key", ben)
    assert code == 0 and "Version 2 is the champion" in out
    code, out = models("rollback", "churn", "--reason", "complaints", "--db", store_url)
    assert code == 0 and f"version {first.model_version} is the champion" in out
    code, out = models("history", "churn", *spec)
    assert code == 0 and "complaints" in out and "key:ben" in out and "canary 10%" in out
    assert verify_audit(store).ok
