"""The policy: rule syntax, null semantics, first match wins, errors with positions, control."""
# ruff: noqa: E501  (the case tables read best one case a line)

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from doorstep.core.policy import (
    CompiledPolicy,
    compile_policy,
    control_value,
    control_values,
)
from doorstep.core.spec.models import PolicySpec
from doorstep.errors import PolicyError

COLUMNS = {
    "customer_id": "string",
    "score": "score",
    "plan": "category",
    "tenure": "int",
    "spend": "float",
    "email": "string",
    "vip": "bool",
    "signup": "datetime",
}
CATEGORIES = {"plan": ["basic", "plus", "premium"]}
ACTIONS = ["call", "offer"]

FRAME = pl.DataFrame(
    {
        "score": [0.9, 0.9, 0.6, None, 0.1],
        "plan": ["premium", "basic", None, "plus", "basic"],
        "tenure": [1, 5, None, 2, 3],
        "spend": [10.0, None, 3.0, 100.0, 0.0],
        "email": ["a@example.com", None, "b@x.org", "c@EXAMPLE.com", None],
        "vip": [True, None, False, True, False],
        "signup": pl.Series(
            [dt.datetime(2024, 1, 1), dt.datetime(2023, 5, 1), None, dt.datetime(2024, 6, 1),
             dt.datetime(2020, 1, 1)]
        ).dt.replace_time_zone("UTC"),
    }
)  # fmt: skip
IDS = pl.Series(["C1", "C2", "C3", "C4", "C5"])


def policy(rules: list[dict[str, Any]], **kwargs: Any) -> CompiledPolicy:
    spec = PolicySpec(rules=rules, **kwargs)
    return compile_policy(spec, COLUMNS, categories=CATEGORIES, actions=ACTIONS)


def matches(when: str) -> list[bool]:
    result = policy([{"when": when, "action": "call"}]).evaluate(FRAME, entity_ids=IDS, app="t")
    return result.rule.is_not_null().to_list()


# -- every allowed construct, with SQL's null semantics ----------------------------------------

T, F = True, False
CONSTRUCTS = [
    ("score >= 0.8 AND plan = 'premium'", [T, F, F, F, F]),
    ("score >= 0.8 OR plan = 'plus'", [T, T, F, T, F]),
    ("plan IN ('basic', 'plus')", [F, T, F, T, T]),
    ("plan NOT IN ('basic', 'plus')", [T, F, F, F, F]),  # null plan: unknown, not a match
    ("NOT (tenure BETWEEN 1 AND 3)", [F, T, F, F, F]),
    ("tenure BETWEEN 2 AND 3", [F, F, F, T, T]),
    ("email IS NULL", [F, T, F, F, T]),
    ("email IS NOT NULL", [T, F, T, T, F]),
    ("spend * 12 > 1000", [F, F, F, T, F]),
    ("(spend + 1) / 2 >= 5", [T, F, F, T, F]),
    ("spend - tenure < 0", [F, F, F, F, T]),
    ("-tenure < -2", [F, T, F, F, T]),
    ("spend / 0 > 1", [F, F, F, F, F]),  # division by zero is unknown
    ("NOT (spend / 0 > 1)", [F, F, F, F, F]),
    ("email LIKE '%@example.com'", [T, F, F, F, F]),
    ("email LIKE 'a%'", [T, F, F, F, F]),
    ("email LIKE 'b@x.org'", [F, F, T, F, F]),
    ("email LIKE '%x%'", [T, F, T, F, F]),  # case-sensitive: 'EXAMPLE' has no 'x'
    ("email LIKE '_@%.com'", [T, F, F, T, F]),
    ("email ILIKE '%@example.com'", [T, F, F, T, F]),
    ("email NOT LIKE '%@example.com'", [F, F, T, T, F]),
    ("email LIKE 'a.%'", [F, F, F, F, F]),  # '.' is literal
    ("COALESCE(spend, 0) >= 0", [T, T, T, T, T]),
    ("COALESCE(plan, 'basic') = 'basic'", [F, T, T, F, T]),
    ("ABS(spend - 3) < 1", [F, F, T, F, F]),
    ("LEAST(spend, 3) >= 3", [T, T, T, T, F]),  # LEAST/GREATEST skip missing values
    ("GREATEST(spend, tenure) > 4", [T, T, F, T, F]),
    ("vip", [T, F, F, T, F]),
    ("NOT vip", [F, F, T, F, T]),
    ("vip = TRUE", [T, F, F, T, F]),
    ("vip <> FALSE", [T, F, F, T, F]),
    ("vip IS TRUE", [T, F, F, T, F]),
    ("vip IS NOT TRUE", [F, T, T, F, T]),
    ("vip IS FALSE", [F, F, T, F, T]),
    ("signup >= '2024-01-01'", [T, F, F, T, F]),
    ("signup < '2024-01-01T00:30:00+01:00'", [F, T, F, F, T]),
    ("signup BETWEEN '2023-01-01' AND '2024-01-01T00:00:00Z'", [T, T, F, F, F]),
    ("tenure IN (1, 2.5, 3)", [T, F, F, F, T]),
    ("tenure <> 1", [F, T, F, T, T]),
    ("tenure != 1 AND score > 0", [F, T, F, F, T]),
    ("tenure == 5", [F, T, F, F, F]),
    ("plan > 'basic'", [T, F, F, T, F]),
    ('"score" > 0.5', [T, T, T, F, F]),
    ("TRUE", [T, T, T, T, T]),
    ("FALSE", [F, F, F, F, F]),
    ("1 = 1", [T, T, T, T, T]),
]


@pytest.mark.parametrize(("when", "expected"), CONSTRUCTS)
def test_allowed_constructs(when: str, expected: list[bool]) -> None:
    assert matches(when) == expected


def test_keywords_are_case_insensitive() -> None:
    assert matches("score > 0.5 or email is null and not vip") == [T, T, T, F, T]


# -- ordering, default, review ---------------------------------------------------------------


def test_first_matching_rule_wins_and_default_applies() -> None:
    compiled = policy(
        [
            {"when": "score >= 0.8 AND plan = 'premium'", "action": "call"},
            {"when": "score >= 0.8", "action": "offer"},
            {"when": "score >= 0.5", "action": "offer", "review": True, "name": "borderline"},
        ],
        default="none",
    )
    result = compiled.evaluate(FRAME, entity_ids=IDS, app="churn")
    assert result.action.to_list() == ["call", "offer", "offer", "none", "none"]
    assert result.rule.to_list() == [0, 1, 2, None, None]
    assert result.rule.dtype == pl.Int32
    assert result.review.to_list() == [F, F, T, F, F]
    assert result.control.to_list() == [F] * 5
    assert [r.name for r in compiled.rules] == ["rule 1", "rule 2", "borderline"]
    assert compiled.columns == {"score", "plan"}


def test_default_action_and_no_rules() -> None:
    result = policy([], default="offer").evaluate(FRAME, entity_ids=IDS, app="churn")
    assert result.action.to_list() == ["offer"] * 5
    assert result.rule.to_list() == [None] * 5
    assert result.review.to_list() == [F] * 5


def test_empty_batch() -> None:
    result = policy([{"when": "score > 0", "action": "call"}], control_group=0.5).evaluate(
        FRAME.head(0), entity_ids=IDS.head(0), app="churn"
    )
    assert result.action.len() == result.control.len() == 0


def test_missing_column_at_evaluation() -> None:
    compiled = policy([{"when": "score > 0", "action": "call"}])
    with pytest.raises(PolicyError, match="no column 'score'"):
        compiled.evaluate(FRAME.drop("score"), entity_ids=IDS, app="churn")


# -- errors: kind, rule index, position, suggestion ------------------------------------------

ERRORS = [
    # (when, position, message fragment)
    ("scroe > 0.5", 0, "unknown column 'scroe' (did you mean 'score'?)"),
    ("score >= 0.8 AND\n  plann = 'x'", 19, "unknown column 'plann' (did you mean 'plan'?)"),
    ("score > 0.5 or Email is null", 15, "unknown column 'Email' (did you mean 'email'?)"),
    ("plan = \"premium\"", 7, "unknown column 'premium' (text values take single quotes: 'premium')"),
    ("zzz > 3", 0, "unknown column 'zzz'; a rule may use 'customer_id', 'score', 'plan', 'tenure', 'spend', 'email', 'vip', 'signup'"),
    ("plan = 'premum'", 7, "plan has no category 'premum' (did you mean 'premium'?)"),
    ("plan IN ('basic', 'gold')", 18, "plan has no category 'gold'; its categories are 'basic', 'plus', 'premium'"),
    ("plan = 1", 7, "plan is a category: compare it with a quoted value such as 'basic', not 1"),
    ("tenure = '12'", 9, "cannot compare tenure (a number) with '12' (text)"),
    ("email > 3", 8, "cannot compare email (text) with 3 (a number)"),
    ("vip > FALSE", 0, "true/false values can only be compared with = or <>"),
    ("signup >= '2024-13-01'", 10, "'2024-13-01' is not an ISO 8601 date"),
    ("score = NULL", 8, "a comparison with NULL is never true; use IS NULL"),
    ("upper(email) = 'A'", 0, "function UPPER() is not supported"),
    ("foo(score) > 1", 0, "function FOO() is not supported"),
    ("ABSS(score) > 1", 0, "function ABSS() is not supported (did you mean 'ABS'?)"),
    ("CASE WHEN vip THEN 1 ELSE 0 END = 1", 0, "CASE is not supported"),
    ("cast(score as int) > 1", 0, "CAST is not supported"),
    ("score > (SELECT 1)", 9, "sub-queries are not allowed"),
    ("score IN (SELECT score FROM t)", 10, "sub-queries are not allowed"),
    ("t.score > 1", 0, "write the column name alone, without a prefix"),
    ("score > 1; DROP TABLE x", 9, "';' is not allowed"),
    ("score >", 6, "cannot read the rule near '>'"),
    ("score >= 0.8 AND", 13, "cannot read the rule near 'AND'"),
    ("SELECT 1", 0, "cannot read the rule near 'SELECT'"),
    ("email = 'it''s", 8, "a quoted string is not closed"),
    ("score > ?", 8, "'?' is not allowed in a rule"),
    ("score", 0, "a rule must be a condition that is true or false"),
    ("spend + 1", 0, "a rule must be a condition"),
    ("score AND vip", 0, "'score' is a number, not a condition"),
    ("plan + 1 > 2", 0, "'plan' is text; arithmetic needs numbers"),
    ("email LIKE plan", 11, "LIKE needs a quoted pattern"),
    ("tenure LIKE '1%'", 0, "LIKE needs text, not a number"),
    ("COALESCE(plan, 1) = 'a'", 0, "COALESCE() mixes a number and text"),
    ("LEAST(plan, 'a') = 'a'", 0, "LEAST() needs numbers or date-times"),
    ("tenure IS TRUE", 0, "IS TRUE/FALSE needs a condition, not a number"),
    ("   ", 0, "the rule is empty"),
]  # fmt: skip


def test_an_unknown_column_of_many_lists_the_first_and_counts_the_rest() -> None:
    columns = {f"feature_{i:03d}": "float" for i in range(45)}
    with pytest.raises(PolicyError) as info:
        compile_policy(
            PolicySpec.model_validate({"rules": [{"when": "qqq > 1", "action": "none"}]}), columns
        )
    assert info.value.message.endswith("'feature_009', ... (45 in all)")
    assert info.value.column == "qqq"


@pytest.mark.parametrize(("when", "position", "fragment"), ERRORS)
def test_errors_carry_rule_position_and_suggestion(when: str, position: int, fragment: str) -> None:
    rules = [{"when": "score > 0.5", "action": "call"}, {"when": when, "action": "offer"}]
    with pytest.raises(PolicyError) as info:
        policy(rules)
    assert fragment in info.value.message
    assert info.value.rule == 1
    assert info.value.position == position


def test_unknown_actions() -> None:
    with pytest.raises(PolicyError) as info:
        policy([{"when": "score > 0.5", "action": "cal"}])
    assert "unknown action 'cal' in the rule's action (did you mean 'call'?)" in info.value.message
    assert info.value.rule == 0 and info.value.position is None
    with pytest.raises(PolicyError) as info:
        policy([], default="ofer")
    assert "unknown action 'ofer' in the default (did you mean 'offer'?)" in info.value.message
    assert info.value.rule is None
    policy([{"when": "score > 0.5", "action": "none"}])  # 'none' is always valid
    spec = PolicySpec(rules=[{"when": "score > 0.5", "action": "anything"}])
    assert compile_policy(spec, COLUMNS).rules[0].action == "anything"  # actions not checked


def test_unknown_column_type_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="column 'x': unknown column type 'decimal'"):
        compile_policy(PolicySpec(), {"x": "decimal"})


def test_loader_style_columns_are_accepted() -> None:
    columns = {"customer_id": "string", "score": "float", "score_high": "float",
               "predicted_class": "category"}  # fmt: skip
    compiled = compile_policy(
        PolicySpec(
            rules=[{"when": "score_high > 0.5 AND predicted_class = 'high'", "action": "x"}]
        ),
        columns,
        categories={"predicted_class": ["low", "high"]},
    )
    assert compiled.columns == {"score_high", "predicted_class"}


# -- control group ---------------------------------------------------------------------------

KNOWN = [
    ("churn", "C-0001", 0.8310982813000252),
    ("churn", "C-0002", 0.40308684568703523),
    ("churn", "42", 0.8418700510341252),
    ("fraud", "C-0001", 0.2835313764615991),
    ("churn", "", 0.8197612041298509),
    ("churn", "é-ünïcode-id-longer-than-16", 0.1554338990494274),
]


@pytest.mark.parametrize(("app", "entity_id", "value"), KNOWN)
def test_control_value_is_a_fixed_function(app: str, entity_id: str, value: float) -> None:
    """A change of hash would silently move entities between groups: these values are frozen."""
    assert control_value(app, entity_id) == value


def test_vectorised_control_values_match_the_reference() -> None:
    for app in ("churn", "fraud"):
        ids = [e for a, e, _ in KNOWN]
        assert control_values(app, pl.Series(ids)).tolist() == [control_value(app, e) for e in ids]
    assert control_values("x", pl.Series([None, "a"], dtype=pl.String))[0] == 1.0
    assert control_values("x", pl.Series([], dtype=pl.String)).size == 0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=30), st.text(max_size=10))
def test_vectorised_control_values_match_for_any_ids(ids: list[str], app: str) -> None:
    expected = [control_value(app, e) for e in ids]
    assert control_values(app, pl.Series(ids, dtype=pl.String)).tolist() == expected
    same_length = [e.ljust(12, "x")[:12] for e in ids]
    expected = [control_value(app, e) for e in same_length]
    assert control_values(app, pl.Series(same_length, dtype=pl.String)).tolist() == expected


def test_control_group_is_stable_and_only_for_acted_rows() -> None:
    compiled = policy(
        [{"when": "score >= 0.5", "action": "offer"}], default="none", control_group=0.5
    )
    ids = pl.Series([f"C-{i:04d}" for i in range(5)])
    first = compiled.evaluate(FRAME, entity_ids=ids, app="churn")
    second = compiled.evaluate(FRAME, entity_ids=ids, app="churn")
    assert first.control.to_list() == second.control.to_list()
    acted = (first.action != "none").to_list()
    expected = [a and control_value("churn", i) < 0.5 for a, i in zip(acted, ids, strict=True)]
    assert first.control.to_list() == expected
    assert not any(c and not a for c, a in zip(first.control, acted, strict=True))


def test_control_fraction_within_statistical_bounds() -> None:
    n, fraction = 100_000, 0.1
    frame = pl.DataFrame({"score": [1.0] * n})
    ids = pl.Series([f"customer-{i}" for i in range(n)])
    compiled = compile_policy(
        PolicySpec(rules=[{"when": "score > 0", "action": "offer"}], control_group=fraction),
        {"score": "score"},
    )
    control = compiled.evaluate(frame, entity_ids=ids, app="churn").control
    sigma = math.sqrt(n * fraction * (1 - fraction))
    assert abs(int(control.sum()) - n * fraction) < 5 * sigma
    values = control_values("churn", ids)
    assert 0.0 <= values.min() and values.max() < 1.0
    deciles = [((values >= k / 10) & (values < (k + 1) / 10)).sum() for k in range(10)]
    assert all(abs(d - n / 10) < 5 * sigma for d in deciles)


def test_entity_ids_must_match_the_frame() -> None:
    with pytest.raises(ValueError, match="entity_ids has 2 values for 5 rows"):
        policy([]).evaluate(FRAME, entity_ids=IDS.head(2), app="churn")
