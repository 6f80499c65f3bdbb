"""The canary's entities: stable per entity, growing with the share, independent of the
control group's."""

from __future__ import annotations

import numpy as np
import polars as pl

from doorstep.core.policy import control_values
from doorstep.core.routing import canary_key, in_canary

IDS = pl.Series([f"C-{i}" for i in range(20_000)])


def test_an_entity_meets_one_version_whatever_the_batch() -> None:
    whole = in_canary("churn", IDS, 0.1)
    pieces = np.concatenate([in_canary("churn", IDS[i : i + 7], 0.1) for i in range(0, 20_000, 7)])
    assert (whole == pieces).all()
    assert abs(whole.mean() - 0.1) < 0.01


def test_a_larger_share_keeps_the_entities_of_the_smaller_one() -> None:
    small, large = in_canary("churn", IDS, 0.05), in_canary("churn", IDS, 0.2)
    assert (large[small]).all() and large.sum() > small.sum()


def test_the_canary_is_independent_of_the_control_group() -> None:
    canary = in_canary("churn", IDS, 0.2)
    control = control_values("churn", IDS) < 0.1
    # the control group is a random tenth of the canary's entities and of the others alike
    assert abs(control[canary].mean() - 0.1) < 0.02
    assert abs(control[~canary].mean() - 0.1) < 0.02
    assert canary_key("churn") != "churn"


def test_no_share_and_null_ids_take_no_entity() -> None:
    assert not in_canary("churn", IDS, 0.0).any()
    assert not in_canary("churn", pl.Series([None, "C-1"], dtype=pl.String), 1.0)[0]
    assert in_canary("churn", pl.Series([], dtype=pl.String), 0.5).shape == (0,)
