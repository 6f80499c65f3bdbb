"""The drift engine: batches give what one shot gives, awkward data is handled, the profile
round-trips, defaults stay quiet on undrifted data at a million rows and flag real drift."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from doorstep.core.stats.drift import (
    DriftReport,
    DriftThresholds,
    ReferenceProfile,
    Threshold,
    WindowAccumulator,
    build_profile,
    compare,
)
from doorstep.errors import InputError


def decisions(n: int, seed: int, *, shift: float = 0.0, extra_shap: float = 1.0) -> pl.DataFrame:
    """Stored decisions as the monitor reads them: inputs, score, contributions."""
    rng = np.random.default_rng(seed)
    age = rng.normal(40 + shift * 12, 12, n)
    age[rng.random(n) < 0.02] = np.nan
    return pl.DataFrame(
        {
            "age": age,
            "tickets": rng.poisson(2, n),
            "plan": rng.choice(["basic", "plus", "premium"], n, p=[0.6, 0.3, 0.1]),
            "score": rng.beta(2, 5, n),
            "shap_age": rng.normal(0, 0.3, n),
            "shap_tickets": rng.normal(0, 0.2, n) * extra_shap,
            "shap_plan": rng.normal(0, 0.1, n),
        }
    )


CONTRIBUTIONS = {"age": "shap_age", "tickets": "shap_tickets", "plan": "shap_plan"}


def profile_of(frame: pl.DataFrame, **kwargs: object) -> ReferenceProfile:
    return build_profile(
        frame,
        features=["age", "tickets", "plan"],
        score="score",
        contributions=CONTRIBUTIONS,
        **kwargs,  # type: ignore[arg-type]
    )


def chunks(frame: pl.DataFrame, sizes: list[int]) -> Iterator[pl.DataFrame]:
    start = 0
    for size in sizes:
        yield frame.slice(start, size)
        start += size


@pytest.fixture(scope="module")
def reference() -> pl.DataFrame:
    return decisions(20_000, seed=1)


@pytest.fixture(scope="module")
def profile(reference: pl.DataFrame) -> ReferenceProfile:
    return profile_of(reference)


def assert_same(got: DriftReport, want: DriftReport) -> None:
    """Identical, but for mean |contribution|: float sums whose rounding follows the batches."""
    assert (got.rows, got.features, got.score, got.status) == (
        want.rows,
        want.features,
        want.score,
        want.status,
    )
    assert len(got.attributions) == len(want.attributions)
    for a, b in zip(got.attributions, want.attributions, strict=True):
        assert (a.feature, a.status) == (b.feature, b.status)
        assert a.reference_share == pytest.approx(b.reference_share, rel=1e-12)
        assert a.mean_abs == pytest.approx(b.mean_abs, rel=1e-12)
        assert a.share_change == pytest.approx(b.share_change, rel=1e-9, abs=1e-15)
    assert got.attribution_shift == pytest.approx(want.attribution_shift, rel=1e-9)


def test_batches_give_what_one_shot_gives(profile: ReferenceProfile) -> None:
    window = decisions(12_345, seed=2, shift=0.3)
    one_shot = compare(profile, window)
    acc = WindowAccumulator(profile)
    for part in chunks(window, [1, 999, 5_000, 0, 6_345]):
        acc.update(part)
    assert_same(acc.result(), one_shot)
    assert_same(acc.result(), one_shot)  # a report does not consume the window
    arrow = window.to_arrow().to_batches(max_chunksize=1_000)
    assert_same(compare(profile, iter(arrow)), one_shot)
    assert_same(compare(profile, window.lazy()), one_shot)
    assert compare(profile, window, threads=1) == one_shot
    assert one_shot.rows == 12_345
    growing = WindowAccumulator(profile)  # a report per batch as the window fills
    growing.update(window.slice(0, 6_000))
    assert growing.result().rows == 6_000
    growing.update(window.slice(6_000))
    assert_same(growing.result(), one_shot)
    assert one_shot.feature("age").status == "alert"  # a 0.3 sd shift: something to compare


def test_reference_streams_too(reference: pl.DataFrame, profile: ReferenceProfile) -> None:
    streamed = build_profile(
        chunks(reference, [7_000, 7_000, 6_000]),
        features={"age": "numeric", "tickets": "numeric", "plan": "categorical"},
        score="score",
        contributions=CONTRIBUTIONS,
    )
    window = decisions(3_000, seed=3)
    assert_same(compare(streamed, window), compare(profile, window))
    assert streamed.attributions == pytest.approx(profile.attributions, rel=1e-12)


def test_profile_round_trips_through_arrow_ipc(profile: ReferenceProfile) -> None:
    blob = profile.to_bytes()
    again = ReferenceProfile.from_bytes(blob)
    window = decisions(5_000, seed=4, shift=0.5)
    assert compare(again, window) == compare(profile, window)
    assert again.attributions == profile.attributions
    assert again.to_bytes() == blob
    with pytest.raises(InputError, match="not an Arrow IPC stream"):
        ReferenceProfile.from_bytes(b"not a profile")
    other = pa.table({"a": [1]})
    with pytest.raises(InputError, match="expected format 'doorstep.drift-profile'"):
        ReferenceProfile.from_arrow(other)


def test_profile_keeps_ties_compact() -> None:
    """An integer column keeps one value and one count per distinct value."""
    frame = pl.DataFrame({"n": np.arange(1_000_000) % 7})
    profile = build_profile(frame)
    assert profile.features["n"].distribution.values.size == 7  # type: ignore[union-attr]
    assert len(profile.to_bytes()) < 10_000


def test_no_false_alarm_at_a_million_rows_while_a_shift_is_flagged() -> None:
    n = 1_000_000
    rng = np.random.default_rng(20)

    def window(seed: int, drift: bool) -> pl.DataFrame:
        r = np.random.default_rng(seed)
        return pl.DataFrame(
            {
                "income": r.lognormal(10, 0.6, n),
                "tenure": r.integers(0, 120, n),
                "visits": r.poisson(3, n),
                "region": r.choice(["n", "s", "e", "w"], n, p=[0.4, 0.3, 0.2, 0.1]),
                "balance": r.normal(1_000 + (300 if drift else 0), 500, n),
                "channel": r.choice(
                    ["web", "app", "store"], n, p=[0.2, 0.5, 0.3] if drift else [0.5, 0.3, 0.2]
                ),
            }
        )

    profile = build_profile(window(int(rng.integers(1 << 30)), drift=False))
    report = compare(profile, window(int(rng.integers(1 << 30)), drift=True))
    quiet = ["income", "tenure", "visits", "region"]
    for name in quiet:
        column = report.feature(name)
        assert column.status == "ok", column
        # the p-values of undrifted features are ordinary; those of drifted ones vanish
        assert column.psi is not None and column.psi < 0.01
    assert report.flagged() == ["balance", "channel"]
    balance = report.feature("balance")
    assert balance.status == "alert"
    assert {c.statistic for c in balance.checks} >= {"psi", "wasserstein_norm"}
    assert balance.ks_pvalue == 0.0 or (balance.ks_pvalue or 1) < 1e-100
    assert report.feature("channel").status == "alert"
    assert report.status == "alert"


def test_significant_but_tiny_drift_does_not_alert() -> None:
    """At a million rows a shift of 0.02 standard deviations is 'significant' (KS p-value far
    below 0.05) yet far below every effect-size threshold: no alert."""
    rng = np.random.default_rng(21)
    n = 1_000_000
    profile = build_profile(pl.DataFrame({"x": rng.normal(0, 1, n)}))
    column = compare(profile, pl.DataFrame({"x": rng.normal(0.02, 1, n)})).feature("x")
    assert column.ks_pvalue is not None and column.ks_pvalue < 1e-10
    assert column.status == "ok"


def test_quality_rates(profile: ReferenceProfile) -> None:
    window = pl.DataFrame(
        {
            "age": [30.0, None, float("nan"), 500.0, -100.0, 41.0, float("inf"), 50.0],
            "tickets": [1, 2, 3, 4, 5, 6, 7, 8],
            "plan": ["basic", None, "gold", "gold", "plus", "basic", "basic", "premium"],
            "score": [0.1] * 8,
            "shap_age": [0.1] * 8,
            "shap_tickets": [0.1] * 8,
            "shap_plan": [0.1] * 8,
        }
    )
    report = compare(profile, window)
    age = report.feature("age")
    assert age.missing_rate == 3 / 8  # null, NaN and inf are missing
    assert age.out_of_range_rate == 2 / 5  # 500 and -100 of the five present values
    plan = report.feature("plan")
    assert plan.missing_rate == 1 / 8
    assert plan.unseen_rate == 2 / 7
    assert plan.chi2_statistic == float("inf") and plan.chi2_pvalue == 0.0
    assert plan.status == "alert"
    assert "unseen_rate 0.2857 >= 0.05 (alert)" in [str(c) for c in plan.checks]
    assert age.status == "alert"  # missing rate up 35 points, out of range 40%
    assert report.feature("tickets").status == "insufficient_data"
    payload = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert payload["features"][2]["chi2_statistic"] is None


def test_declared_ranges_bound_out_of_range() -> None:
    frame = pl.DataFrame({"x": np.linspace(0, 10, 2_000)})
    profile = build_profile(frame, ranges={"x": (-5.0, None)})
    column = compare(profile, pl.DataFrame({"x": [-4.0, -6.0, 10.0, 11.0]})).feature("x")
    assert column.out_of_range_rate == 0.5  # -6 below the declared -5, 11 above the max


def test_all_missing_and_constant_columns() -> None:
    n = 5_000
    reference = pl.DataFrame(
        {
            "gone": pl.Series([None] * n, dtype=pl.Float64),
            "flat": np.full(n, 3.0),
            "one": ["only"] * n,
        }
    )
    profile = build_profile(reference)
    window = pl.DataFrame(
        {
            "gone": np.ones(n),
            "flat": np.full(n, 3.0),
            "one": pl.Series([None] * n, dtype=pl.String),
        }
    )
    report = compare(profile, window)
    gone = report.feature("gone")
    assert gone.reference_missing_rate == 1.0 and gone.missing_rate == 0.0
    assert gone.psi is None and gone.ks_statistic is None
    assert gone.status == "insufficient_data"
    flat = report.feature("flat")
    assert flat.psi == 0.0 and flat.ks_statistic == 0.0 and flat.wasserstein_norm == 0.0
    assert flat.status == "ok"
    one = report.feature("one")
    assert one.missing_rate == 1.0 and one.psi is None
    assert one.status == "alert"  # everything missing now

    moved = compare(profile, window.with_columns(pl.lit(4.0).alias("flat"))).feature("flat")
    # a constant that moves: std 0, so normalised by 0.001 as Evidently does
    assert moved.wasserstein == 1.0 and moved.wasserstein_norm == pytest.approx(1_000.0)
    assert moved.status == "alert"


def test_single_category_has_no_chi_square_p_value() -> None:
    profile = build_profile(pl.DataFrame({"c": ["a"] * 2_000}))
    column = compare(profile, pl.DataFrame({"c": ["a"] * 1_500})).feature("c")
    assert column.chi2_statistic == 0.0 and column.chi2_pvalue is None
    assert column.psi == 0.0 and column.js_distance == 0.0 and column.status == "ok"


def test_score_and_attribution_drift(profile: ReferenceProfile) -> None:
    steady = compare(profile, decisions(20_000, seed=5))
    assert steady.score is not None and steady.score.status == "ok"
    assert [a.status for a in steady.attributions] == ["ok", "ok", "ok"]
    assert steady.attribution_shift is not None and steady.attribution_shift < 0.01

    moved = compare(profile, decisions(20_000, seed=6, extra_shap=2.0))
    tickets = {a.feature: a for a in moved.attributions}["tickets"]
    assert tickets.mean_abs == pytest.approx(2 * tickets.reference_mean_abs, rel=0.05)
    assert tickets.share_change is not None and tickets.share_change > 0.1
    assert tickets.status == "alert"
    assert moved.attribution_shift == pytest.approx(tickets.share_change, rel=1e-9)
    assert moved.status == "alert"


def test_contributions_explained_apart_count_as_if_inline(profile: ReferenceProfile) -> None:
    window = decisions(6_000, seed=8, extra_shap=2.0)
    inline = compare(profile, window)
    apart = WindowAccumulator(profile, explained_apart=True)
    shap = [c for c in window.columns if c.startswith("shap_")]
    apart.update(window.drop(shap))  # features and score only: no contribution column needed
    for part in chunks(window.select(shap), [2_500, 3_500]):  # e.g. a sample explained later
        apart.update_contributions(part)
    result = apart.result()
    assert (result.rows, result.features, result.score) == (
        inline.rows,
        inline.features,
        inline.score,
    )
    assert [a.status for a in result.attributions] == [a.status for a in inline.attributions]
    assert [a.share for a in result.attributions] == pytest.approx(
        [a.share for a in inline.attributions], rel=1e-12
    )  # summed in other batches: the last bits may differ
    assert result.status == inline.status == "alert"


def test_small_windows_report_but_do_not_judge_drift(profile: ReferenceProfile) -> None:
    report = compare(profile, decisions(200, seed=7, shift=1.0))
    age = report.feature("age")
    assert age.psi is not None and age.psi > 0.25  # a real shift, measured ...
    assert age.status == "insufficient_data"  # ... but 200 rows are below min_rows
    strict = compare(
        profile, decisions(200, seed=7, shift=1.0), thresholds=DriftThresholds(min_rows=100)
    )
    assert strict.feature("age").status == "alert"


def test_custom_thresholds() -> None:
    rng = np.random.default_rng(9)
    profile = build_profile(pl.DataFrame({"x": rng.normal(0, 1, 50_000)}))
    window = pl.DataFrame({"x": rng.normal(0.15, 1, 50_000)})
    assert compare(profile, window).feature("x").status == "warn"  # wasserstein_norm ~0.15
    loose = DriftThresholds(wasserstein_norm=Threshold(0.5, 1.0))
    assert compare(profile, window, thresholds=loose).feature("x").status == "ok"
    with pytest.raises(ValueError, match="warn <= alert"):
        Threshold(0.3, 0.2)


def test_errors_name_the_column(profile: ReferenceProfile) -> None:
    with pytest.raises(InputError, match="batch 0: column 'shap_plan' is missing"):
        compare(profile, decisions(10, seed=8).drop("shap_plan"))
    bad = decisions(10, seed=8).with_columns(pl.col("age").cast(pl.String))
    with pytest.raises(InputError, match="column 'age': expected numbers, got String"):
        compare(profile, bad)
    with pytest.raises(InputError, match="name the features"):
        build_profile(iter([decisions(10, seed=8)]))
    with pytest.raises(InputError, match="kind 'text'"):
        build_profile(decisions(10, seed=8), features={"plan": "text"})  # type: ignore[dict-item]


def test_report_lookup(profile: ReferenceProfile) -> None:
    report: DriftReport = compare(profile, decisions(2_000, seed=10))
    assert [c.name for c in report.features] == ["age", "tickets", "plan"]
    with pytest.raises(KeyError):
        report.feature("nope")
