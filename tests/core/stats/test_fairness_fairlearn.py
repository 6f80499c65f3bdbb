"""Fairness statistics equal Fairlearn's (``fairlearn.metrics``) to 1e-9 on a real data set
with a real sensitive attribute: scikit-learn's bundled diabetes data (442 patients of Efron
et al. 2004, ``sklearn.datasets.load_diabetes(scaled=False)``), grouped by ``sex`` and by
bands of ``age``; the outcome is a disease progression above the median a year later, the
score a logistic regression that does not see sex or age."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LogisticRegression

from doorstep.core.stats.fairness import AttributeFairness, FairnessTally
from doorstep.core.stats.fairness_report import SELECTED

TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def decisions() -> pd.DataFrame:
    data = load_diabetes(as_frame=True, scaled=False).frame
    outcome = data["target"] > data["target"].median()
    features = data[["bmi", "bp", "s5", "s3"]]
    model = LogisticRegression(max_iter=1_000).fit(features, outcome)
    score = model.predict_proba(features)[:, 1]
    action = np.where(score >= 0.75, "treat", np.where(score >= 0.45, "review", "none"))
    age = data["age"].to_numpy()
    band = np.select([age < 40, age < 50, age < 60], ["<40", "40-50", "50-60"], ">=60")
    return pd.DataFrame(
        {
            "sex": data["sex"].map({1.0: "1", 2.0: "2"}),
            "age_band": band,
            "action": action,
            "selected": action != "none",
            "wide": score >= 0.2,  # selects widely: the false positive rates differ most
            "positive": outcome.to_numpy(),
            "score": score,
        }
    )


def tally(
    frame: pd.DataFrame, by: str, *, min_group: int, chunk: int = 100, selected: str = "selected"
) -> AttributeFairness:
    counter = FairnessTally(by, by, min_group=min_group, actions=["treat", "review", "none"])
    for start in range(0, len(frame), chunk):
        part = frame.iloc[start : start + chunk]
        counter.add(
            part[by].to_numpy(dtype=object),
            part["action"].to_numpy(dtype=object),
            part[selected].to_numpy(),
            np.ones(len(part), dtype=bool),
            part["positive"].to_numpy(),
            part["score"].to_numpy(),
        )
    return counter.result()


def close(ours: float | None, theirs: Any) -> None:
    assert ours is not None
    assert abs(ours - float(theirs)) <= TOLERANCE, (ours, float(theirs))


@pytest.mark.parametrize("selected", ["selected", "wide"])
@pytest.mark.parametrize("by", ["sex", "age_band"])
def test_every_number_equals_fairlearns(decisions: pd.DataFrame, by: str, selected: str) -> None:
    ours = tally(decisions, by, min_group=1, selected=selected)
    y_true, groups = decisions["positive"], decisions[by]
    y_pred = decisions[selected]
    frame = MetricFrame(
        metrics={
            "selection": selection_rate,
            "tpr": true_positive_rate,
            "fpr": false_positive_rate,
            "mean_score": lambda _t, s: float(np.mean(s)),
            "observed": lambda t, _s: float(np.mean(t)),
        },
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=groups,
    )
    scores = MetricFrame(
        metrics={"mean_score": lambda _t, s: float(np.mean(s))},
        y_true=y_true,
        y_pred=decisions["score"],
        sensitive_features=groups,
    ).by_group
    assert len(ours.groups) == len(frame.by_group) >= 2
    for group in ours.groups:
        row = frame.by_group.loc[group.group]
        close(group.selection[SELECTED].value, row["selection"])
        close(group.true_positive_rate.value, row["tpr"])
        close(group.false_positive_rate.value, row["fpr"])
        close(group.observed_rate.value, row["observed"])
        close(group.mean_score.value, scores.loc[group.group, "mean_score"])
        assert group.decisions == int((groups == group.group).sum())
    kwargs = {"sensitive_features": groups}
    close(
        ours.parity_difference[SELECTED].estimate.value,
        demographic_parity_difference(y_true, y_pred, **kwargs),
    )
    close(
        ours.parity_ratio[SELECTED].estimate.value,
        demographic_parity_ratio(y_true, y_pred, **kwargs),
    )
    close(
        ours.equalized_odds_difference.estimate.value,
        equalized_odds_difference(y_true, y_pred, **kwargs),
    )
    tpr, fpr = ours.true_positive_rate_difference, ours.false_positive_rate_difference
    larger = fpr if selected == "wide" else tpr  # each case exercises one side of the maximum
    assert larger.estimate.value == ours.equalized_odds_difference.estimate.value
    for action in ("treat", "review", "none"):
        chosen = decisions["action"] == action
        by_group = MetricFrame(
            metrics=selection_rate, y_true=y_true, y_pred=chosen, sensitive_features=groups
        ).by_group
        for group in ours.groups:
            close(group.selection[action].value, by_group.loc[group.group])
        close(
            ours.parity_difference[action].estimate.value,
            demographic_parity_difference(y_true, chosen, **kwargs),
        )
        close(
            ours.parity_ratio[action].estimate.value,
            demographic_parity_ratio(y_true, chosen, **kwargs),
        )


def test_groups_below_the_minimum_stay_out_as_fairlearn_would_without_them(
    decisions: pd.DataFrame,
) -> None:
    counts = decisions["age_band"].value_counts()
    everyone = tally(decisions, "age_band", min_group=1)
    highest = everyone.parity_difference[SELECTED].high_group
    assert highest is not None
    minimum = int(counts[highest]) + 1  # the band selected most often falls below it
    ours = tally(decisions, "age_band", min_group=minimum)
    small = counts.index[counts < minimum]
    assert set(ours.too_few) == set(small) and highest in small and counts.size - small.size >= 2
    kept = decisions[~decisions["age_band"].isin(small)]
    kwargs = {"sensitive_features": kept["age_band"]}
    close(
        ours.parity_difference[SELECTED].estimate.value,
        demographic_parity_difference(kept["positive"], kept["selected"], **kwargs),
    )
    close(
        ours.parity_ratio[SELECTED].estimate.value,
        demographic_parity_ratio(kept["positive"], kept["selected"], **kwargs),
    )
    assert ours.parity_difference[SELECTED].high_group != highest
