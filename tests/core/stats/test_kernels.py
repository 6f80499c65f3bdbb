"""The drift statistics agree with scipy on the same data: random samples and adversarial ones
(ties, a constant column, one category, tiny and unequal sizes, huge samples)."""

from __future__ import annotations

import warnings

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st_
from scipy import stats
from scipy.spatial.distance import jensenshannon

from doorstep.core.stats.drift import build_profile, compare
from doorstep.core.stats.kernels import (
    Ecdf,
    chi2_goodness_of_fit,
    ecdf_from_sorted,
    histogram,
    js_distance,
    ks_and_wasserstein,
    ks_asymptotic_pvalue,
    quantiles,
    smirnov_tail,
    sturges_edges,
)

Floats = npt.NDArray[np.float64]


def ecdf(values: Floats) -> Ecdf:
    return ecdf_from_sorted(np.sort(np.asarray(values, dtype=np.float64)))


def samples() -> list[tuple[str, Floats, Floats]]:
    rng = np.random.default_rng(3)
    return [
        ("normal shift", rng.normal(0, 1, 3_000), rng.normal(0.1, 1.2, 2_000)),
        ("ties: small ints", rng.integers(0, 5, 4_000) * 1.0, rng.integers(0, 6, 1_500) * 1.0),
        ("one side constant", np.full(500, 2.0), rng.normal(2, 1, 700)),
        ("both constant, equal", np.full(50, 1.0), np.full(80, 1.0)),
        ("both constant, apart", np.full(50, 1.0), np.full(80, 3.0)),
        ("disjoint supports", rng.uniform(0, 1, 300), rng.uniform(5, 6, 400)),
        ("single values", np.array([0.5]), np.array([0.25])),
        ("heavy tails", rng.standard_cauchy(5_000), rng.standard_cauchy(5_000) * 2),
        (
            "many ties both sides",
            np.round(rng.normal(0, 1, 20_000), 1),
            np.round(rng.normal(0, 1, 30_000), 1),
        ),
    ]


@pytest.mark.parametrize(("label", "a", "b"), samples(), ids=[s[0] for s in samples()])
def test_ks_and_wasserstein_equal_scipy(label: str, a: Floats, b: Floats) -> None:
    d, w = ks_and_wasserstein(ecdf(a), ecdf(b))
    # the same counts over the same sizes: bit for bit ('exact' re-rounds D to a multiple of
    # 1/lcm(n1, n2) before its p-value, so compare with the statistic as computed)
    with warnings.catch_warnings():  # scipy's asymptotic p-value of 1 vs 1 value divides by 0
        warnings.simplefilter("ignore", RuntimeWarning)
        assert d == stats.ks_2samp(a, b, method="asymp").statistic
    assert d == pytest.approx(stats.ks_2samp(a, b).statistic, rel=1e-14)
    assert w == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-9, abs=1e-12)
    # symmetric in its arguments
    d2, w2 = ks_and_wasserstein(ecdf(b), ecdf(a))
    assert d2 == d
    assert w2 == pytest.approx(w, rel=1e-12, abs=1e-15)


values = st_.lists(
    st_.one_of(
        st_.integers(-3, 3).map(float),  # many ties, shared between the samples
        st_.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(values, values)
def test_ks_and_wasserstein_equal_scipy_on_any_samples(a: list[float], b: list[float]) -> None:
    x, y = np.asarray(a), np.asarray(b)
    d, w = ks_and_wasserstein(ecdf(x), ecdf(y))
    with warnings.catch_warnings():  # scipy's asymptotic p-value of tiny samples may warn
        warnings.simplefilter("ignore", RuntimeWarning)
        assert d == stats.ks_2samp(x, y, method="asymp").statistic
    assert w == pytest.approx(stats.wasserstein_distance(x, y), rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("n", [150, 3_000, 20_000, 600_000, 2_000_000])
def test_ks_pvalue_equals_scipy_asymptotic(n: int) -> None:
    """Beyond 10,000 values ks_2samp(method='auto') is asymptotic: kstwo.sf(D, round(en)).
    Statistics that fall in scipy's 2*smirnov band agree to 1e-8 relative; the rest exactly."""
    en = round(n * (n // 2) / (n + n // 2))
    for d in [0.5 / en**0.5, 1.2 / en**0.5, 2.0 / en**0.5, 4.0 / en**0.5, 10 / en**0.5, 0.4, 0.7]:
        d = min(d, 0.99)
        got = ks_asymptotic_pvalue(d, n, n // 2)
        want = float(np.clip(stats.kstwo.sf(d, en), 0, 1))
        assert got == pytest.approx(want, rel=1e-8, abs=1e-300), (n, d)


def test_ks_pvalue_equals_ks_2samp_on_large_samples() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(0, 1, 40_000), rng.normal(0.05, 1, 25_000)
    d, _ = ks_and_wasserstein(ecdf(a), ecdf(b))
    expected = stats.ks_2samp(a, b)
    assert expected.pvalue < 0.01  # inside the band computed by the vectorised tail
    assert ks_asymptotic_pvalue(d, a.size, b.size) == pytest.approx(expected.pvalue, rel=1e-8)
    assert stats.ks_2samp(a, b, method="asymp").pvalue == expected.pvalue


def test_smirnov_tail_equals_scipy_special() -> None:
    from scipy.special import smirnov

    for n, d in [(141, 0.13), (1_000, 0.05), (10_000, 0.02), (250_000, 0.004)]:
        assert smirnov_tail(n, d) == pytest.approx(smirnov(n, d), rel=1e-9)


def test_quantiles_from_counts_equal_numpy() -> None:
    rng = np.random.default_rng(7)
    qs = np.linspace(0, 1, 11)
    samples = (rng.normal(0, 1, 1001), rng.integers(0, 4, 999).astype(np.float64), np.array([3.0]))
    for values in samples:
        assert quantiles(ecdf(values), qs) == pytest.approx(np.quantile(values, qs), rel=1e-12)


def test_sturges_histogram_equals_numpy() -> None:
    rng = np.random.default_rng(8)
    ref, cur = rng.gamma(2, 3, 5_000), rng.gamma(2.2, 3, 4_000)
    combined = np.concatenate([ref, cur])
    edges = sturges_edges(combined.min(), combined.max(), combined.size)
    expected = np.histogram_bin_edges(combined, bins="sturges")
    assert np.array_equal(edges, expected)
    assert np.array_equal(histogram(ecdf(ref), edges), np.histogram(ref, expected)[0])
    assert np.array_equal(histogram(ecdf(cur), edges), np.histogram(cur, expected)[0])
    # edges that are themselves data points: the last bin is closed, the others half-open
    ints = np.arange(0, 31, dtype=np.float64)
    edges = sturges_edges(0.0, 30.0, ints.size)
    assert np.array_equal(histogram(ecdf(ints), edges), np.histogram(ints, edges)[0])


def test_js_distance_equals_scipy() -> None:
    p, q = np.array([10, 0, 5, 1]), np.array([3, 4, 0, 9])
    assert js_distance(p, q) == pytest.approx(jensenshannon(p / p.sum(), q / q.sum()), rel=1e-12)
    assert js_distance(p, p) == 0.0
    # disjoint: the maximum, sqrt(ln 2)
    assert js_distance(np.array([1, 0]), np.array([0, 1])) == pytest.approx(np.sqrt(np.log(2)))


def test_chi2_goodness_of_fit_equals_scipy_chisquare() -> None:
    observed, reference = np.array([30, 50, 20]), np.array([400, 450, 150])
    expected = reference * (observed.sum() / reference.sum())
    want = stats.chisquare(observed, expected)
    assert chi2_goodness_of_fit(observed, reference) == pytest.approx(
        (want.statistic, want.pvalue), rel=1e-12
    )
    # a category the reference never saw: scipy's infinite statistic and zero p-value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        unseen = stats.chisquare([5, 5, 1], [5.5, 5.5, 0.0])
    assert chi2_goodness_of_fit(np.array([5, 5, 1]), np.array([1, 1, 0])) == (
        unseen.statistic,
        unseen.pvalue,
    )
    # one category: no degrees of freedom (scipy says nan)
    assert chi2_goodness_of_fit(np.array([7]), np.array([9])) == (0.0, None)


# --- the engine end to end against scipy on raw columns ---------------------------------------


def frames(seed: int, n_ref: int, n_cur: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)

    def one(n: int, shift: float) -> pl.DataFrame:
        x = rng.normal(shift, 1, n)
        x[rng.random(n) < 0.05] = np.nan
        return pl.DataFrame(
            {
                "x": x,
                "k": rng.integers(0, 7, n),
                "c": rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.2, 0.1]),
            }
        )

    return one(n_ref, 0.0), one(n_cur, 0.2)


@pytest.mark.parametrize(("n_ref", "n_cur"), [(800, 600), (9_000, 10_000), (30_000, 12_000)])
def test_engine_equals_scipy_on_raw_columns(n_ref: int, n_cur: int) -> None:
    ref, cur = frames(11, n_ref, n_cur)
    report = compare(build_profile(ref), cur)
    x = report.feature("x")
    a, b = ref["x"].drop_nans().to_numpy(), cur["x"].drop_nans().to_numpy()
    want = stats.ks_2samp(a, b)  # method 'auto': exact up to 10,000 per side
    assert x.ks_statistic == want.statistic
    assert x.ks_pvalue == pytest.approx(want.pvalue, rel=1e-8)
    w = stats.wasserstein_distance(a, b)
    assert x.wasserstein == pytest.approx(w, rel=1e-9)
    assert x.wasserstein_norm == pytest.approx(w / np.std(a), rel=1e-9)
    assert x.missing_rate == pytest.approx(np.isnan(cur["x"].to_numpy()).mean())
    edges = np.histogram_bin_edges(np.concatenate([a, b]), bins="sturges")
    ra, rb = np.histogram(a, edges)[0] / a.size, np.histogram(b, edges)[0] / b.size
    assert x.js_distance == pytest.approx(jensenshannon(ra, rb), rel=1e-9)
    # PSI over reference deciles, right-closed bins, natural log
    deciles = np.unique(np.quantile(a, np.arange(1, 10) / 10))
    pa_ = np.bincount(np.searchsorted(deciles, a, side="left"), minlength=deciles.size + 1)
    pb_ = np.bincount(np.searchsorted(deciles, b, side="left"), minlength=deciles.size + 1)
    ra, rb = pa_ / a.size, pb_ / b.size
    assert x.psi == pytest.approx(float(np.sum((ra - rb) * np.log(ra / rb))), rel=1e-9)

    c = report.feature("c")
    keys = sorted(set(ref["c"]) | set(cur["c"]))
    ref_counts = np.array([(ref["c"] == k).sum() for k in keys])
    cur_counts = np.array([(cur["c"] == k).sum() for k in keys])
    chi = stats.chisquare(cur_counts, ref_counts * (cur_counts.sum() / ref_counts.sum()))
    assert c.chi2_statistic == pytest.approx(chi.statistic, rel=1e-9)
    assert c.chi2_pvalue == pytest.approx(chi.pvalue, rel=1e-8, abs=1e-300)
    assert c.js_distance == pytest.approx(
        jensenshannon(ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()), rel=1e-9
    )

    k = report.feature("k")  # 7 distinct values: compared value by value
    keys_k = np.union1d(ref["k"].to_numpy(), cur["k"].to_numpy())
    rk = np.array([(ref["k"] == v).sum() for v in keys_k]) / ref.height
    ck = np.array([(cur["k"] == v).sum() for v in keys_k]) / cur.height
    assert k.js_distance == pytest.approx(jensenshannon(rk, ck), rel=1e-9)
    assert k.psi == pytest.approx(float(np.sum((rk - ck) * np.log(rk / ck))), rel=1e-9)


@pytest.mark.parametrize(
    ("counts", "shares"),
    [
        ([0, 1, 1], [1e-4, 0.5, 0.5]),  # the smallest share is large: empty bins get 0.0001
        ([0, 1, 99_999], [1e-11, 1e-5, 0.99999]),  # it is at most 0.0001: a millionth of it
        ([0, 1, 9_999], [1e-10, 1e-4, 0.9999]),  # exactly 0.0001 counts as small
        ([2, 2], [0.5, 0.5]),
    ],
)
def test_empty_bins_are_filled_as_docs_monitoring_md_says(
    counts: list[int], shares: list[float]
) -> None:
    from doorstep.core.stats.kernels import smoothed_shares

    found = smoothed_shares(np.array(counts, dtype=np.int64))
    assert found.tolist() == pytest.approx(shares, rel=1e-9, abs=0)
