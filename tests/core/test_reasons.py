"""Reasons: top-k contributions as points of probability, rendered as deterministic sentences."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from doorstep.core.ports import Contributions
from doorstep.core.reasons import (
    REASON_DTYPE,
    ReasonStyle,
    _top_k,
    contribution_points,
    render_reasons,
)
from doorstep.core.spec.models import FieldSpec

FIELDS = {
    "tickets": FieldSpec(type="int", label="Support tickets in the last 30 days"),
    "spend": FieldSpec(type="float", unit="EUR", label="Monthly spend"),
    "plan": FieldSpec(type="category", values=["basic", "premium"]),
    "autopay": FieldSpec(type="bool", label="Pays by autopay"),
}
FRAME = pl.DataFrame(
    {
        "tickets": [7, 0],
        "spend": [82.456, None],
        "plan": ["basic", "premium"],
        "autopay": [False, True],
    }
)


def logit_contributions(values: list[list[float]], base: float = -1.5) -> Contributions:
    v = np.array(values, dtype=np.float64)[:, None, :]
    return Contributions(
        values=v,
        base=np.full((v.shape[0], 1), base),
        link="logit",
        feature_names=list(FIELDS),
        method="test",
    )


def sigmoid(x: float) -> float:
    return float(1 / (1 + np.exp(-x)))


def test_points_add_up_to_score_minus_base_score() -> None:
    c = logit_contributions([[1.2, -0.3, 0.4, -0.1], [0.0, 0.2, -2.0, 0.5]])
    points = contribution_points(c)
    for row in range(2):
        margin = -1.5 + c.values[row, 0].sum()
        expected = 100 * (sigmoid(margin) - sigmoid(-1.5))
        assert points[row].sum() == pytest.approx(expected, abs=1e-9)
        # each point keeps its contribution's sign
        assert np.all(np.sign(points[row]) == np.sign(c.values[row, 0]))


def test_points_use_local_slope_when_contributions_cancel() -> None:
    c = logit_contributions([[0.5, -0.5, 0.0, 0.0]])
    p = sigmoid(-1.5)
    np.testing.assert_allclose(contribution_points(c)[0], 100 * p * (1 - p) * c.values[0, 0])


def test_probability_and_identity_links() -> None:
    v = np.array([[[0.1, -0.02, 0.0, 0.0]]])
    base = np.zeros((1, 1))
    prob = Contributions(v, base, "probability", list(FIELDS), "permutation")
    np.testing.assert_allclose(contribution_points(prob)[0], [10.0, -2.0, 0.0, 0.0])
    ident = Contributions(v, base, "identity", list(FIELDS), "treeshap")
    np.testing.assert_allclose(contribution_points(ident)[0], v[0, 0])


def test_softmax_points_explain_the_chosen_class() -> None:
    values = np.array([[[0.5, 0.0, 0.0, 0.0], [0.0, 1.0, -0.2, 0.0]]])
    base = np.array([[0.1, -0.1]])
    c = Contributions(values, base, "softmax", list(FIELDS), "native")
    points = contribution_points(c, np.array([1]))
    margins = base + values.sum(axis=2)
    p = np.exp(margins) / np.exp(margins).sum()
    p0 = np.exp(base) / np.exp(base).sum()
    assert points[0].sum() == pytest.approx(100 * (p[0, 1] - p0[0, 1]))


def test_sentences_follow_the_template_with_labels_units_and_direction() -> None:
    c = logit_contributions([[1.2, -0.3, 0.05, 0.0], [0.0, 0.2, -1.0, 0.01]])
    reasons, text = render_reasons(FRAME, c, FIELDS, ReasonStyle(top=2, score_label="churn risk"))
    assert reasons.dtype == REASON_DTYPE
    first = text[0].split("; ")
    assert first[0].startswith("Support tickets in the last 30 days: 7, raises churn risk by ")
    assert first[0].endswith(" points")
    assert first[1].startswith("Monthly spend: 82.46 EUR, lowers churn risk by ")
    second = reasons[1].to_list()
    assert [r["feature"] for r in second] == ["plan", "spend"]
    assert second[0]["sentence"].startswith("Plan: premium, lowers churn risk")
    assert second[1]["value"] == "missing"
    assert second[0]["contribution"] == -1.0


def test_ties_break_by_feature_order_and_top_is_capped() -> None:
    c = logit_contributions([[0.3, 0.3, 0.3, 0.3], [0.3, 0.3, 0.3, 0.3]])
    reasons, _ = render_reasons(FRAME, c, FIELDS, ReasonStyle(top=10))
    assert [r["feature"] for r in reasons[0].to_list()] == list(FIELDS)


def test_bool_values_read_as_words_and_regression_units() -> None:
    values = np.array([[[0.0, 0.0, 0.0, -12.346]], [[0.0, 0.0, 0.0, 3.0]]])
    c = Contributions(values, np.zeros((2, 1)), "identity", list(FIELDS), "native")
    _, text = render_reasons(
        FRAME, c, FIELDS, ReasonStyle(top=1, score_label="expected spend", score_unit="EUR")
    )
    assert text.to_list() == [
        "Pays by autopay: no, lowers expected spend by 12.35 EUR",
        "Pays by autopay: yes, raises expected spend by 3 EUR",
    ]


def test_empty_batch_and_zero_top() -> None:
    c = logit_contributions([[0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4]])
    reasons, text = render_reasons(FRAME, c, FIELDS, ReasonStyle(top=0))
    assert reasons.to_list() == [[], []] and text.to_list() == ["", ""]
    empty = Contributions(np.zeros((0, 1, 4)), np.zeros((0, 1)), "logit", list(FIELDS), "x")
    reasons, text = render_reasons(FRAME.head(0), empty, FIELDS, ReasonStyle())
    assert reasons.len() == 0 and text.len() == 0


def test_amounts_round_half_away_from_zero_and_say_point_once() -> None:
    from doorstep.core.reasons import _amount

    assert _amount(0.25, None) == "0.3 points"
    assert _amount(-2.25, None) == "2.3 points"
    assert _amount(1.04, None) == "1 point"
    assert _amount(9.96, None) == "10 points"
    assert _amount(12.5, None) == "13 points"
    assert _amount(-3.0, "EUR") == "3 EUR"
    assert _amount(0.125, "EUR") == "0.13 EUR"


@pytest.mark.parametrize(("rows", "width", "digits"), [(4096, 200, 1), (2048, 100, 3), (8, 11, 1)])
def test_top_k_equals_the_stable_full_sort_also_with_ties(
    rows: int, width: int, digits: int
) -> None:
    # rounded effects tie often, also at the k-th place with a column the partition left out
    effects = np.round(np.random.default_rng(width).normal(size=(rows, width)), digits)
    effects[0, :] = 0.5  # a row of one value: the first three columns, in order
    expected = np.argsort(-np.abs(effects), axis=1, kind="stable")[:, :3]
    chosen = _top_k(effects, 3)
    assert np.array_equal(chosen, expected)
    assert chosen[0].tolist() == [0, 1, 2]
