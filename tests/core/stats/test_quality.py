"""Live quality statistics agree with scikit-learn and scipy, streamed in chunks or not."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    brier_score_loss,
    mean_absolute_error,
    precision_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)

from doorstep.core.stats.intervals import newcombe_difference, wilson
from doorstep.core.stats.quality import (
    BinaryQuality,
    MulticlassQuality,
    QualityReport,
    RegressionQuality,
    delong_auc,
)


def labelled(n: int, seed: int, *, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scores = rng.beta(2, 3, n)
    if ties:
        scores = np.round(scores, 2)
    positive = rng.random(n) < scores  # calibrated by construction
    return scores, positive


def streamed(
    scores: np.ndarray, positive: np.ndarray, predicted: np.ndarray, chunks: int
) -> QualityReport:
    order = np.argsort(scores, kind="stable")
    quality = BinaryQuality(bins=10)
    for part in np.array_split(order, chunks):
        quality.add(scores[part], positive[part], predicted[part])
    return quality.result()


def delong_by_definition(scores: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """DeLong et al. (1988) straight from the definition: every positive against every
    negative (O(n^2)), for checking the streamed sums."""
    pos, neg = scores[positive], scores[~positive]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    auc = psi.mean()
    variance = v10.var(ddof=1) / pos.size + v01.var(ddof=1) / neg.size
    return float(auc), float(variance)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("chunks", [1, 7, 400])
def test_binary_metrics_match_sklearn(ties: bool, chunks: int) -> None:
    scores, positive = labelled(2_000, seed=3, ties=ties)
    predicted = scores >= 0.5
    report = streamed(scores, positive, predicted, chunks)
    metrics = report.metrics
    assert report.labelled == 2_000 and report.counts["positives"] == positive.sum()
    assert metrics["auc"].value == pytest.approx(roc_auc_score(positive, scores), abs=1e-12)
    assert metrics["brier"].value == pytest.approx(brier_score_loss(positive, scores), abs=1e-12)
    assert metrics["precision"].value == pytest.approx(precision_score(positive, predicted))
    assert metrics["recall"].value == pytest.approx(recall_score(positive, predicted))
    auc, variance = delong_by_definition(scores, positive)
    assert metrics["auc"].value == pytest.approx(auc, abs=1e-12)
    half = 1.959963984540054 * variance**0.5
    assert metrics["auc"].low == pytest.approx(auc - half, abs=1e-9)
    assert metrics["auc"].high == pytest.approx(auc + half, abs=1e-9)


def test_streaming_gives_the_same_numbers_as_one_chunk() -> None:
    scores, positive = labelled(5_000, seed=11, ties=True)
    predicted = scores > 0.6
    one = streamed(scores, positive, predicted, 1).as_dict()
    many = streamed(scores, positive, predicted, 333).as_dict()
    assert one.keys() == many.keys()
    for key in ("auc", "brier", "precision", "recall", "positive_rate"):
        for end in ("value", "low", "high"):
            assert one[key][end] == pytest.approx(many[key][end], abs=1e-12), (key, end)
    for left, right in zip(one["calibration"], many["calibration"], strict=True):
        assert left["count"] == right["count"] and left["positive_rate"] == right["positive_rate"]
        assert left["mean_score"] == pytest.approx(right["mean_score"], abs=1e-12)


def test_a_tie_group_across_chunks_counts_as_one_group() -> None:
    scores = np.array([0.2, 0.5, 0.5, 0.5, 0.5, 0.9])
    positive = np.array([False, True, False, True, False, True])
    quality = BinaryQuality()
    quality.add(scores[:3], positive[:3], positive[:3])  # the 0.5 group is split
    quality.add(scores[3:], positive[3:], positive[3:])
    assert quality.result().metrics["auc"].value == pytest.approx(roc_auc_score(positive, scores))


def test_unsorted_chunks_are_refused() -> None:
    quality = BinaryQuality()
    quality.add(np.array([0.5, 0.6]), np.array([True, False]), np.array([True, True]))
    with pytest.raises(ValueError, match="sorted by score"):
        quality.add(np.array([0.1]), np.array([True]), np.array([True]))


def test_calibration_table_matches_sklearn() -> None:
    scores, positive = labelled(3_000, seed=5)
    report = streamed(scores, positive, scores > 0.5, 9)
    prob_true, prob_pred = calibration_curve(positive, scores, n_bins=10, strategy="uniform")
    filled = [b for b in report.calibration if b.count]
    assert [b.positive_rate.value for b in filled] == pytest.approx(prob_true)
    assert [b.mean_score for b in filled] == pytest.approx(prob_pred)
    assert sum(b.count for b in report.calibration) == 3_000
    for calibration_bin in filled:  # calibrated data: each bin's interval holds its mean score
        rate = calibration_bin.positive_rate
        mean_score = calibration_bin.mean_score
        assert rate.low is not None and rate.high is not None and mean_score is not None
        assert rate.low - 0.05 <= mean_score <= rate.high + 0.05


def test_one_class_only_has_no_auc_but_counts() -> None:
    quality = BinaryQuality(min_labelled=5)
    quality.add(np.array([0.1, 0.4, 0.8]), np.array([True, True, True]), np.array([0, 0, 1]) == 1)
    report = quality.result()
    assert report.metrics["auc"].value is None
    assert report.labelled == 3 and report.enough is False
    assert report.metrics["recall"].value == pytest.approx(1 / 3)
    assert report.metrics["precision"].value == 1.0


def test_delong_interval_covers_the_true_auc_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(2024)
    # positives ~ N(1, 1), negatives ~ N(0, 1): true AUC = Phi(1 / sqrt(2))
    true_auc = 0.7602499389065233
    covered = 0
    runs = 400
    for _ in range(runs):
        scores = np.r_[rng.normal(1, 1, 60), rng.normal(0, 1, 90)]
        positive = np.r_[np.ones(60, bool), np.zeros(90, bool)]
        auc = delong_auc(scores, positive)
        assert auc.low is not None and auc.high is not None
        covered += auc.low <= true_auc <= auc.high
    assert 0.91 <= covered / runs <= 0.98


def test_regression_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(8)
    outcomes = rng.gamma(2.0, 50.0, 4_000)
    predictions = outcomes + rng.normal(3.0, 20.0, 4_000)
    quality = RegressionQuality(min_labelled=100)
    for part in np.array_split(np.arange(4_000), 13):
        quality.add(predictions[part], outcomes[part])
    report = quality.result()
    mae, rmse = report.metrics["mae"], report.metrics["rmse"]
    assert mae.value == pytest.approx(mean_absolute_error(outcomes, predictions))
    assert rmse.value == pytest.approx(root_mean_squared_error(outcomes, predictions))
    assert report.metrics["mean_error"].value == pytest.approx(np.mean(predictions - outcomes))
    assert mae.low is not None and mae.value is not None and mae.high is not None
    assert rmse.low is not None and rmse.value is not None and rmse.high is not None
    assert mae.low < mae.value < mae.high and rmse.low < rmse.value < rmse.high
    assert rmse.low < (20**2 + 3**2) ** 0.5 < rmse.high  # noise sd 20, bias 3
    assert report.enough and report.labelled == 4_000


def test_multiclass_accuracy() -> None:
    quality = MulticlassQuality()
    quality.add(np.array([True, True, False, True]))
    report = quality.result()
    assert report.metrics["accuracy"].value == 0.75 and report.labelled == 4


@pytest.mark.parametrize(("successes", "n"), [(0, 10), (3, 10), (81, 263), (999, 1000)])
def test_wilson_matches_scipy(successes: int, n: int) -> None:
    expected = binomtest(successes, n).proportion_ci(method="wilson")
    interval = wilson(successes, n)
    assert interval.low == pytest.approx(expected.low, abs=1e-12)
    assert interval.high == pytest.approx(expected.high, abs=1e-12)


@pytest.mark.parametrize(
    ("counts", "low", "high"),
    # Newcombe (1998), Statistics in Medicine 17:873-890, table II, method 10
    [((56, 70, 48, 80), 0.0524, 0.3339), ((9, 10, 3, 10), 0.1705, 0.8090)],
)
def test_newcombe_matches_the_published_examples(
    counts: tuple[int, int, int, int], low: float, high: float
) -> None:
    interval = newcombe_difference(*counts)
    assert interval.low == pytest.approx(low, abs=5e-5)
    assert interval.high == pytest.approx(high, abs=5e-5)
