"""Score calibration: isotonic regression equals scikit-learn's, the out-of-fold check keeps
the map only when it lowers the calibration error, and the map survives JSON."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from doorstep.core.stats.calibration import (
    ScoreCalibration,
    expected_calibration_error,
    fit_calibration,
    isotonic_fit,
)


def draws(n: int, seed: int, *, sharpen: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    truth = 1 / (1 + np.exp(-(2 * x - 1)))
    scores = 1 / (1 + np.exp(-(sharpen * (2 * x - 1))))
    return np.round(scores, 3), rng.random(n) < truth


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_isotonic_fit_equals_scikit_learns(seed: int) -> None:
    scores, positive = draws(3_000, seed, sharpen=1.7)
    x, y = isotonic_fit(scores, positive.astype(float))
    theirs = IsotonicRegression(out_of_bounds="clip").fit(scores, positive.astype(float))
    probe = np.linspace(-0.1, 1.1, 997)
    assert np.allclose(np.interp(probe, x, y), theirs.predict(probe), atol=1e-12)


def test_an_over_confident_model_is_calibrated_and_the_error_falls() -> None:
    scores, positive = draws(20_000, 4, sharpen=2.5)
    found = fit_calibration(scores, positive)
    assert found.method == "isotonic"
    assert found.ece_calibrated < found.ece_raw / 3
    fresh, outcome = draws(20_000, 5, sharpen=2.5)
    assert expected_calibration_error(found.apply(fresh), outcome.astype(float)) < 0.02


def test_calibrated_scores_are_left_as_they_are() -> None:
    scores, positive = draws(4_000, 6, sharpen=1.0)
    found = fit_calibration(scores, positive)
    assert found.method == "none"  # isotonic steps only add noise to calibrated scores
    assert np.array_equal(found.apply(scores), np.clip(scores, 0, 1))


def test_one_outcome_alone_cannot_calibrate() -> None:
    with pytest.raises(ValueError, match="both outcomes"):
        fit_calibration(np.linspace(0, 1, 50), np.zeros(50, dtype=bool))


def test_the_map_survives_its_json() -> None:
    scores, positive = draws(5_000, 7, sharpen=2.0)
    found = fit_calibration(scores, positive)
    again = ScoreCalibration.from_dict(found.to_dict())
    probe = np.linspace(0, 1, 101)
    assert np.array_equal(again.apply(probe), found.apply(probe))
    assert again.ece_raw == found.ece_raw and again.rows == found.rows == 5_000
