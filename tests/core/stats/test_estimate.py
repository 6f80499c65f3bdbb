"""Estimated quality (CBPE): with calibrated scores the realised metrics of fresh windows fall
within the estimates' sampling intervals about 95% of the time; the estimate does not depend on
how the window is chunked; and it equals the expected confusion matrix computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from doorstep.core.stats.calibration import ScoreCalibration
from doorstep.core.stats.estimate import EstimatedQuality

IDENTITY = ScoreCalibration("none", np.empty(0), np.empty(0), 0, 0, 0.0, 0.0)


def window(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    p = rng.beta(1.2, 3.0, n)
    return p, rng.random(n) < p


def realised(p: np.ndarray, y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    tp = float(np.sum(predicted & y))
    return {
        "auc": float(roc_auc_score(y, p)),
        "precision": tp / predicted.sum(),
        "recall": tp / y.sum(),
        "f1": 2 * tp / (predicted.sum() + y.sum()),
        "expected_value": float(np.sum(predicted * (100 * y - 20))) / p.size,
    }


def test_realised_metrics_fall_within_the_intervals_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(11)
    inside = {name: 0 for name in ("auc", "precision", "recall", "f1", "expected_value")}
    trials = 200
    for _ in range(trials):
        p, y = window(2_000, rng)
        predicted = p >= 0.4
        estimate = EstimatedQuality(IDENTITY, valued=True)
        estimate.add(p, predicted, np.where(predicted, 100.0, 0.0), np.where(predicted, 20.0, 0.0))
        found = estimate.result()
        for name, value in realised(p, y, predicted).items():
            interval = found[name]
            assert interval.low is not None and interval.high is not None
            inside[name] += interval.low <= value <= interval.high
    for name, count in inside.items():
        assert 0.90 <= count / trials <= 0.99, (name, count)


def test_the_estimate_is_the_expected_confusion_matrix() -> None:
    rng = np.random.default_rng(12)
    p, _ = window(5_000, rng)
    predicted = p >= 0.3
    estimate = EstimatedQuality(IDENTITY)
    estimate.add(p, predicted)
    found = estimate.result()
    tp, fp, fn = p[predicted].sum(), (1 - p[predicted]).sum(), p[~predicted].sum()
    assert found["precision"].value == pytest.approx(tp / (tp + fp))
    assert found["recall"].value == pytest.approx(tp / (tp + fn))
    assert found["f1"].value == pytest.approx(2 * tp / (2 * tp + fp + fn))
    # AUC: every pair weighted by p_i (1 - p_j), ties half; bins of 1/4096 differ little
    order = np.argsort(p)
    sp = p[order]
    below = np.cumsum(1 - sp) - (1 - sp)
    exact = float(np.dot(sp, below)) / (sp.sum() * (1 - sp).sum())
    assert found["auc"].value == pytest.approx(exact, abs=2e-4)
    assert "expected_value" not in found


def test_chunks_in_any_order_give_the_same_estimate() -> None:
    rng = np.random.default_rng(13)
    p, _ = window(9_000, rng)
    predicted = p >= 0.5
    whole = EstimatedQuality(IDENTITY)
    whole.add(p, predicted)
    parts = EstimatedQuality(IDENTITY)
    for index in np.array_split(rng.permutation(p.size), 7):
        parts.add(p[index], predicted[index])
    for name, interval in whole.result().items():
        assert parts.result()[name].value == pytest.approx(interval.value, rel=1e-12)


def test_an_empty_window_and_one_without_positive_predictions() -> None:
    empty = EstimatedQuality(IDENTITY).result()
    assert all(interval.value is None for interval in empty.values())
    estimate = EstimatedQuality(IDENTITY)
    estimate.add(np.array([0.1, 0.2, np.nan]), np.zeros(3, dtype=bool))
    found = estimate.result()
    assert estimate.rows == 2  # the missing score is left out
    assert found["precision"].value is None
    assert found["recall"].value == 0.0
