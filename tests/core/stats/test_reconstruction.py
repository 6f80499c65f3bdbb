"""Multivariate drift by PCA reconstruction error: a window like the reference is ok; one whose
inputs keep their own distributions but stop moving together alerts (no single input shows
it); missing values and unseen categories are encoded, not refused; too few rows are
insufficient_data; the model survives its JSON."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from doorstep.core.stats.drift import build_profile, compare
from doorstep.core.stats.drift_report import FeatureKind
from doorstep.core.stats.reconstruction import (
    ReconstructionAccumulator,
    ReconstructionModel,
    fit_reconstruction,
)

KINDS: dict[str, FeatureKind] = {
    "a": "numeric",
    "b": "numeric",
    "c": "numeric",
    "plan": "categorical",
}


def frame(n: int, seed: int, *, correlated: bool = True) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    noise = rng.normal(size=n)
    b = 0.9 * a + np.sqrt(1 - 0.81) * noise if correlated else noise
    return pl.DataFrame(
        {
            "a": a,
            "b": b,
            "c": rng.normal(size=n),
            "plan": rng.choice(["basic", "plus", "premium"], n, p=[0.5, 0.3, 0.2]),
        }
    )


@pytest.fixture(scope="module")
def model() -> ReconstructionModel:
    found = fit_reconstruction(frame(20_000, 1), KINDS)
    assert found is not None
    return found


def drift_of(model: ReconstructionModel, window: pl.DataFrame) -> ReconstructionAccumulator:
    accumulator = ReconstructionAccumulator(model)
    for part in window.iter_slices(3_000):
        accumulator.update(part)
    return accumulator


@pytest.mark.parametrize("seed", [2, 3, 4, 5, 6])
def test_a_window_like_the_reference_is_ok(model: ReconstructionModel, seed: int) -> None:
    found = drift_of(model, frame(5_000, seed)).result()
    assert found.status == "ok"
    assert found.increase is not None and abs(found.increase) < 0.05


def test_a_broken_correlation_alerts_where_no_single_input_moves(
    model: ReconstructionModel,
) -> None:
    reference, window = frame(20_000, 1), frame(5_000, 7, correlated=False)
    found = drift_of(model, window).result()
    assert found.status == "alert" and found.increase is not None and found.increase > 0.1
    assert found.error.low is not None and found.error.low > found.reference_error
    univariate = compare(build_profile(reference, features=KINDS), window)
    assert univariate.status == "ok"  # each input alone looks the same


def test_missing_values_and_unseen_categories_are_encoded(model: ReconstructionModel) -> None:
    window = frame(2_000, 8).with_columns(
        pl.when(pl.int_range(pl.len()) % 10 == 0).then(None).otherwise(pl.col("a")).alias("a"),
        pl.lit("enterprise").alias("plan"),
    )
    errors = model.errors(window)
    assert np.all(np.isfinite(errors)) and errors.size == 2_000


def test_too_few_rows_are_insufficient_data(model: ReconstructionModel) -> None:
    assert drift_of(model, frame(999, 9)).result().status == "insufficient_data"
    assert drift_of(model, frame(0, 9)).result().status == "insufficient_data"


def test_one_input_is_not_enough_to_rebuild() -> None:
    assert fit_reconstruction(frame(100, 1), {"a": "numeric"}) is None


def test_the_model_survives_its_json(model: ReconstructionModel) -> None:
    again = ReconstructionModel.from_dict(model.to_dict())
    window = frame(500, 10)
    assert np.array_equal(again.errors(window), model.errors(window))
