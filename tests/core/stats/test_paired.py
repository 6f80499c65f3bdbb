"""Differences of two models' quality: paired and unpaired DeLong against a direct O(m·n)
computation of the placement values, and against the streaming AUC of quality.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

from doorstep.core.stats.intervals import z_value
from doorstep.core.stats.paired import (
    paired_auc_difference,
    paired_mean_difference,
    unpaired_auc_difference,
)
from doorstep.core.stats.quality import delong_auc


def _direct(scores: np.ndarray, positive: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUC and placement values by comparing every positive with every negative."""
    pos, neg = scores[positive], scores[~positive]
    kernel = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    return float(kernel.mean()), kernel.mean(axis=1), kernel.mean(axis=0)


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    positive = rng.random(n) < 0.3
    signal = positive + rng.normal(0, 1.0, n)
    champion = np.round(1 / (1 + np.exp(-signal)), 2)  # ties on purpose
    challenger = np.round(1 / (1 + np.exp(-(signal + positive * 0.4 + rng.normal(0, 0.5, n)))), 3)
    return champion, challenger, positive


def test_paired_difference_matches_the_direct_delong_covariance() -> None:
    champion, challenger, positive = _data(400, 1)
    found = paired_auc_difference(champion, challenger, positive)
    a, a10, a01 = _direct(champion, positive)
    b, b10, b01 = _direct(challenger, positive)
    m, n = positive.sum(), (~positive).sum()
    s10, s01 = np.cov(a10, b10), np.cov(a01, b01)
    covariance = s10 / m + s01 / n
    variance = covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1]
    assert found.champion.value == pytest.approx(a, abs=1e-12)
    assert found.challenger.value == pytest.approx(b, abs=1e-12)
    assert found.difference.value == pytest.approx(b - a, abs=1e-12)
    assert found.standard_error == pytest.approx(math.sqrt(variance), rel=1e-9)
    half = z_value() * math.sqrt(variance)
    assert found.difference.low == pytest.approx(b - a - half, rel=1e-9)
    assert found.method == "paired DeLong"


def test_each_auc_interval_is_the_streaming_delong_interval() -> None:
    champion, challenger, positive = _data(300, 2)
    found = paired_auc_difference(champion, challenger, positive)
    for mine, scores in ((found.champion, champion), (found.challenger, challenger)):
        theirs = delong_auc(scores, positive)
        assert mine.value == pytest.approx(theirs.value, abs=1e-12)
        assert mine.low == pytest.approx(theirs.low, abs=1e-9)
        assert mine.high == pytest.approx(theirs.high, abs=1e-9)


def test_pairing_narrows_the_interval_of_correlated_models() -> None:
    champion, challenger, positive = _data(600, 3)
    paired = paired_auc_difference(champion, challenger, positive)
    unpaired = unpaired_auc_difference((champion, positive), (challenger, positive))
    assert paired.difference.value == pytest.approx(unpaired.difference.value)
    assert paired.standard_error is not None and unpaired.standard_error is not None
    assert paired.standard_error < unpaired.standard_error
    a = delong_auc(champion, positive)
    b = delong_auc(challenger, positive)
    assert a.high is not None and a.value is not None and b.high is not None
    assert b.value is not None
    expected = math.hypot((a.high - a.value) / z_value(), (b.high - b.value) / z_value())
    assert unpaired.standard_error == pytest.approx(expected, rel=1e-6)


def test_one_class_only_gives_no_auc() -> None:
    scores = np.array([0.1, 0.5, 0.9])
    found = paired_auc_difference(scores, scores, np.array([True, True, True]))
    assert found.difference.value is None and found.standard_error is None
    alone = unpaired_auc_difference(
        (scores, np.array([True, False, True])), (scores, np.array([False, False, False]))
    )
    assert alone.champion.value == 0.5 and alone.challenger.value is None
    assert alone.difference.value is None


def test_paired_mean_difference_is_the_mean_of_differences() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.random(200), rng.random(200)
    found = paired_mean_difference(a, b)
    d = b - a
    half = z_value() * d.std(ddof=1) / math.sqrt(d.size)
    assert found.value == pytest.approx(d.mean())
    assert found.low == pytest.approx(d.mean() - half)
