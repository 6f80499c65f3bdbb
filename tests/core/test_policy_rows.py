"""The rules' row tests (small batches) decide exactly as the polars query does."""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.core.test_policy import ACTIONS, CATEGORIES, COLUMNS, CONSTRUCTS

from doorstep.core import policy as policy_module
from doorstep.core.policy import ROW_TEST_ROWS, CompiledPolicy, compile_policy
from doorstep.core.spec.models import PolicySpec

EXTRA = [
    "tenure * 4611686018427387904 > 0",  # leaves 64 bits: polars wraps, the query decides
    "tenure + 9223372036854775807 > 0",
    "-tenure > 0",
    "ABS(tenure) > 2",
    "spend * 1e308 > 1e308",
    "spend * 1e308 - spend * 1e308 >= 0",  # inf - inf is NaN
    "tenure / spend > 1",
    "tenure / tenure = 1",
    "tenure = 2.0 OR spend = 3",
    "tenure > 9007199254740992.0",
    "tenure >= spend",
    "COALESCE(tenure, spend) > 2",
    "COALESCE(tenure, NULL, 1) = 1",
    "LEAST(tenure, spend, 2) < 2.5",
    "GREATEST(tenure, 3) = 3",
    "score > 0.5 AND NOT (plan = 'basic' OR vip)",
    "NOT (score > 0.5) OR plan IS NULL",
    "plan IN ('basic') OR email IN ('a', 'b')",
    "NOT (plan IN ('basic', 'plus'))",
    "email LIKE '%'",
    "email LIKE ''",
    "email LIKE '%%'",
    "email NOT LIKE 'a%'",
    "email < 'b' AND email >= ''",
    "(score - 0.5) * 2 BETWEEN -1 AND 1",
    "score / 0 IS NULL",
    "vip IS NOT FALSE AND tenure IS NOT NULL",
    "tenure IN (1, spend, 2.5)",
]
RULES = [when for when, _ in CONSTRUCTS] + EXTRA
COVERED = [w for w in RULES if "signup" not in w and "ILIKE" not in w and "'_@" not in w]

tenures = st.one_of(
    st.none(),
    st.integers(-5, 5),
    st.sampled_from([-(2**63), 2**63 - 1, 2**53, 2**53 + 1, -(2**53) - 1]),
)
spends = st.one_of(
    st.none(), st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 3.0])
)
scores = st.one_of(st.none(), st.floats(0, 1), st.just(float("nan")))
texts = st.one_of(st.none(), st.sampled_from(["a", "b", "", "a@example.com", "ab%", "é"]))


@st.composite
def frames(draw: st.DrawFn) -> pl.DataFrame:
    rows = draw(st.integers(1, 8))

    def column(values: st.SearchStrategy[Any]) -> list[Any]:
        return draw(st.lists(values, min_size=rows, max_size=rows))

    return pl.DataFrame(
        {
            "score": pl.Series(column(scores), dtype=pl.Float64),
            "plan": pl.Series(column(st.sampled_from([None, "basic", "plus", "premium"]))),
            "tenure": pl.Series(column(tenures), dtype=pl.Int64),
            "spend": pl.Series(column(spends), dtype=pl.Float64),
            "email": pl.Series(column(texts), dtype=pl.String),
            "vip": pl.Series(column(st.one_of(st.none(), st.booleans())), dtype=pl.Boolean),
            "signup": pl.Series(
                column(st.one_of(st.none(), st.just(dt.datetime(2024, 1, 1, tzinfo=dt.UTC))))
            ).cast(pl.Datetime("us", "UTC")),
        },
        schema_overrides={"plan": pl.String},
    )


@cache
def compiled(when: str) -> CompiledPolicy:
    spec = PolicySpec(rules=[{"when": when, "action": "call"}, {"when": "TRUE", "action": "offer"}])
    return compile_policy(spec, COLUMNS, categories=CATEGORIES, actions=ACTIONS)


def test_the_row_test_covers_every_rule_but_dates_ilike_and_regular_patterns() -> None:
    for when in RULES:
        rule = compiled(when).rules[0]
        assert (rule.test is not None) == (when in COVERED), when


@settings(max_examples=150, deadline=None)
@given(frame=frames())
def test_row_tests_decide_as_the_query(frame: pl.DataFrame) -> None:
    for when in COVERED:
        policy = compiled(when)
        tests = policy._tests
        assert tests is not None
        by_rows = policy._slots_by_rows(frame, tests)
        if by_rows is not None:  # None: a NaN or an overflow, left to the query
            assert by_rows.tolist() == policy._slots_by_query(frame).tolist(), when


def test_nan_and_overflow_are_left_to_the_query() -> None:
    frame = pl.DataFrame({"tenure": [2**62], "spend": [float("nan")]})
    for when in ("tenure * 4 > 0", "spend > 1", "spend = spend"):
        policy = compiled(when)
        assert policy._tests is not None
        assert policy._slots_by_rows(frame, policy._tests) is None


def test_evaluate_uses_the_row_tests_for_small_batches_only(monkeypatch: Any) -> None:
    seen: list[int] = []
    real = CompiledPolicy._slots_by_rows

    def spy(self: CompiledPolicy, frame: pl.DataFrame, tests: Any) -> Any:
        seen.append(frame.height)
        return real(self, frame, tests)

    monkeypatch.setattr(policy_module.CompiledPolicy, "_slots_by_rows", spy)
    policy = compiled("tenure > 2 AND score >= 0.5")
    for rows in (1, ROW_TEST_ROWS, ROW_TEST_ROWS + 1):
        frame = pl.DataFrame({"tenure": np.arange(rows), "score": np.linspace(0, 1, rows)})
        ids = pl.Series([f"C{i}" for i in range(rows)])
        result = policy.evaluate(frame, entity_ids=ids, app="t")
        expected = [0 if t > 2 and s >= 0.5 else 1 for t, s in zip(*frame, strict=True)]
        assert result.slot.tolist() == expected
    assert seen == [1, ROW_TEST_ROWS]
    # a rule without a row test (a date-time) always takes the query
    assert compiled("signup > '2024-01-01'")._tests is None
