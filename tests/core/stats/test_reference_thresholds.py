"""Thresholds derived from the reference equal a direct computation: the reference split in file
order into windows of the monitored size (the incomplete last one left out), the metric per
window by scikit-learn or numpy, alert at mean ∓ k·σ (population σ) towards worse and warn at
k - 1; fewer than three windows give no threshold and say the reference is insufficient."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from doorstep.core.stats.profile import ReferenceProfile, build_profile
from doorstep.core.stats.reference_thresholds import (
    MIN_REFERENCE_WINDOWS,
    ReferenceLabels,
    derive_threshold,
)


def binary(rows: int, seed: int) -> ReferenceLabels:
    rng = np.random.default_rng(seed)
    scores = rng.uniform(size=rows)
    positive = rng.uniform(size=rows) < scores  # informative, noisy
    return ReferenceLabels("binary", scores, positive.astype(np.float64))


def windows(values: np.ndarray, size: int) -> list[np.ndarray]:
    return [values[i : i + size] for i in range(0, values.size - size + 1, size)]


@pytest.mark.parametrize(("rows", "size", "k"), [(2_000, 300, 3.0), (1_234, 100, 2.5)])
def test_auc_thresholds_equal_a_direct_computation(rows: int, size: int, k: float) -> None:
    labels = binary(rows, seed=rows)
    aucs = np.array(
        [
            roc_auc_score(y, s)
            for s, y in zip(
                windows(labels.scores, size), windows(labels.outcomes, size), strict=True
            )
        ]
    )
    found = derive_threshold("auc", labels, size, k=k, direction="lower_is_worse")
    assert found.windows == rows // size and found.threshold is not None
    assert found.mean == pytest.approx(aucs.mean(), abs=1e-12)
    assert found.std == pytest.approx(aucs.std(ddof=0), abs=1e-12)
    assert found.threshold.alert == pytest.approx(aucs.mean() - k * aucs.std(), abs=1e-12)
    assert found.threshold.warn == pytest.approx(aucs.mean() - (k - 1) * aucs.std(), abs=1e-12)
    assert found.threshold.level(aucs.min() - 1e-9) in ("ok", "warn")  # the reference itself
    alert = found.threshold.alert
    assert alert is not None and found.threshold.level(alert - 1e-9) == "alert"
    assert found.as_dict()["source"] == "reference" and found.note is None


def test_higher_is_worse_metrics_are_judged_above_the_mean() -> None:
    labels = binary(1_500, seed=3)
    brier = np.array(
        [
            np.mean((s - y) ** 2)
            for s, y in zip(windows(labels.scores, 250), windows(labels.outcomes, 250), strict=True)
        ]
    )
    found = derive_threshold("brier", labels, 250, k=3, direction="higher_is_worse")
    assert found.threshold is not None and found.threshold.direction == "higher_is_worse"
    assert found.threshold.alert == pytest.approx(brier.mean() + 3 * brier.std(), abs=1e-12)
    alert = found.threshold.alert
    assert alert is not None and found.threshold.level(alert) == "alert"
    assert found.threshold.level(brier.mean()) == "ok"


def test_precision_counts_a_score_at_the_cutoff_as_positive() -> None:
    labels = binary(900, seed=11)
    cutoff = 0.6
    expected = np.array(
        [
            np.mean(y[s >= cutoff])
            for s, y in zip(windows(labels.scores, 300), windows(labels.outcomes, 300), strict=True)
        ]
    )
    found = derive_threshold(
        "precision", labels, 300, k=3, direction="lower_is_worse", cutoff=cutoff
    )
    assert found.mean == pytest.approx(expected.mean(), abs=1e-12)


def test_regression_errors_equal_numpy() -> None:
    rng = np.random.default_rng(5)
    predictions = rng.normal(size=1_000)
    outcomes = predictions + rng.normal(scale=0.5, size=1_000)
    labels = ReferenceLabels("regression", predictions, outcomes)
    rmse = np.array(
        [
            np.sqrt(np.mean((p - y) ** 2))
            for p, y in zip(windows(predictions, 200), windows(outcomes, 200), strict=True)
        ]
    )
    found = derive_threshold("rmse", labels, 200, k=1, direction="higher_is_worse")
    assert found.threshold is not None and found.threshold.warn is None  # k - 1 = 0: no warn
    assert found.threshold.alert == pytest.approx(rmse.mean() + rmse.std(), abs=1e-12)


@pytest.mark.parametrize("rows", [0, 299, 599, 899])
def test_fewer_than_three_windows_give_no_threshold_and_a_note(rows: int) -> None:
    labels = binary(rows, seed=1) if rows else None
    found = derive_threshold("auc", labels, 300, direction="lower_is_worse")
    assert found.windows == rows // 300 < MIN_REFERENCE_WINDOWS
    assert found.threshold is None and found.mean is None
    assert found.note is not None and found.note.startswith("insufficient reference")


def test_labels_survive_the_profile_round_trip() -> None:
    labels = binary(50, seed=2)
    back = ReferenceLabels.from_dict(labels.to_dict())
    assert back.task == "binary"
    assert np.array_equal(back.scores, labels.scores)
    assert np.array_equal(back.outcomes, labels.outcomes)


def test_labels_are_kept_in_the_profile_file() -> None:
    labels = binary(40, seed=4)
    plain = build_profile(pl.DataFrame({"x": np.arange(40.0)}), features=["x"])
    kept = replace(plain, labels=labels)
    back = ReferenceProfile.from_bytes(kept.to_bytes()).labels
    assert back is not None and np.array_equal(back.scores, labels.scores)
    assert ReferenceProfile.from_bytes(plain.to_bytes()).labels is None
