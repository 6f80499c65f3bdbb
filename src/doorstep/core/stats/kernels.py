"""Kernels of the drift statistics, on sorted values and counts.

Every distribution here is an :class:`Ecdf`: its distinct values, sorted, and the cumulative
count of observations at or below each. Two of them compare in one merged pass over their
values (no concatenation and re-sorting of raw samples, as ``scipy.stats.ks_2samp`` and
``scipy.stats.wasserstein_distance`` do on every call), with the same arithmetic as scipy, so
the numbers agree with scipy's to the last few bits.

Definitions (see ``docs/monitoring.md``, "Drift statistics"):

- Kolmogorov-Smirnov: ``D = max |F_ref(x) - F_cur(x)|`` over every observed ``x``; its
  p-value as ``ks_2samp(method='auto')`` gives it (exact up to 10,000 values per side, else
  Smirnov's asymptotic distribution ``kstwo.sf(D, round(n*m/(n+m)))``).
- Wasserstein-1: ``∫ |F_ref(x) - F_cur(x)| dx``.
- PSI: ``Σ (r_i - c_i) ln(r_i / c_i)`` over bin shares, empty bins smoothed as Evidently does.
- Jensen-Shannon distance: ``sqrt((KL(p‖m) + KL(q‖m)) / 2)``, ``m = (p + q) / 2``, natural log.
- Chi-square goodness of fit: ``Σ (o_i - e_i)² / e_i`` with ``e_i`` the reference share of
  category ``i`` times the current count, ``k - 1`` degrees of freedom.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "EXACT_KS_MAX_N",
    "Ecdf",
    "chi2_goodness_of_fit",
    "ecdf_from_counts",
    "ecdf_from_sorted",
    "histogram",
    "js_distance",
    "ks_asymptotic_pvalue",
    "ks_and_wasserstein",
    "psi",
    "quantiles",
    "right_closed_bin_counts",
    "smoothed_shares",
    "smirnov_tail",
    "sturges_edges",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

EXACT_KS_MAX_N = 10_000
"""Up to this many values on both sides, ``ks_2samp(method='auto')`` computes the exact
p-value; above, the asymptotic one."""

PSI_EMPTY_SHARE = 1e-4
"""The share an empty bin gets in PSI (or the smallest non-empty share / 10⁶ when that is
smaller), as Evidently's ``get_binned_data`` fills zeros."""


@dataclass(frozen=True, eq=False)
class Ecdf:
    """An empirical distribution: distinct ``values`` (sorted, finite) and ``cum[i]``, the number
    of observations ``<= values[i]``."""

    values: FloatArray
    cum: IntArray

    @property
    def n(self) -> int:
        """Number of observations."""
        return int(self.cum[-1]) if self.cum.size else 0

    @property
    def counts(self) -> IntArray:
        """Observations of each distinct value."""
        return np.diff(self.cum, prepend=np.int64(0))

    def count_le(self, x: FloatArray) -> IntArray:
        """Observations ``<= x``, for each ``x``."""
        return _padded(self.cum)[np.searchsorted(self.values, x, side="right")]

    def count_lt(self, x: FloatArray) -> IntArray:
        """Observations ``< x``, for each ``x``."""
        return _padded(self.cum)[np.searchsorted(self.values, x, side="left")]

    def expand(self) -> FloatArray:
        """Every observation, sorted (only for small samples: scipy's exact KS p-value)."""
        return np.repeat(self.values, self.counts)


def _padded(cum: IntArray) -> IntArray:
    return np.concatenate([np.zeros(1, dtype=np.int64), cum])


def ecdf_from_sorted(values: FloatArray) -> Ecdf:
    """The distribution of ``values``, already sorted and finite."""
    if values.size == 0:
        return Ecdf(np.empty(0, dtype=np.float64), np.empty(0, dtype=np.int64))
    last = np.empty(values.size, dtype=bool)
    np.not_equal(values[1:], values[:-1], out=last[:-1])
    last[-1] = True
    ends = np.flatnonzero(last)
    return Ecdf(values[ends], (ends + 1).astype(np.int64))


def ecdf_from_counts(values: FloatArray, counts: IntArray) -> Ecdf:
    """The distribution of distinct sorted ``values`` seen ``counts`` times each."""
    return Ecdf(values, np.cumsum(counts, dtype=np.int64))


def ks_and_wasserstein(a: Ecdf, b: Ecdf) -> tuple[float, float]:
    """The two-sided Kolmogorov-Smirnov statistic and the Wasserstein-1 distance of two
    non-empty distributions, in one merged pass over their distinct values.

    Both CDFs are evaluated at every distinct value of either side, as counts divided by the
    sample sizes (scipy's arithmetic); the supremum of their difference is ``D`` and the area
    between them, step by step, is the Wasserstein distance.
    """
    na, nb = a.n, b.n
    if na == 0 or nb == 0:
        raise ValueError("both distributions need at least one value")
    # each side's values: how many of the other side are <= them, and where they go in the merge
    b_le_a = np.searchsorted(b.values, a.values, side="right")
    a_le_b = np.searchsorted(a.values, b.values, side="right")
    b_lt_a = b_le_a - _equal_to_previous(b.values, a.values, b_le_a)
    size = a.values.size + b.values.size
    merged = np.empty(size, dtype=np.float64)
    cdf_a = np.empty(size, dtype=np.float64)
    cdf_b = np.empty(size, dtype=np.float64)
    pos_a = np.arange(a.values.size) + b_lt_a  # an a value goes before an equal b value
    pos_b = np.arange(b.values.size) + a_le_b  # a b value after every a value <= it
    merged[pos_a] = a.values
    merged[pos_b] = b.values
    cum_a, cum_b = _padded(a.cum), _padded(b.cum)
    cdf_a[pos_a] = a.cum / na
    cdf_a[pos_b] = cum_a[a_le_b] / na
    cdf_b[pos_a] = cum_b[b_le_a] / nb
    cdf_b[pos_b] = b.cum / nb
    diffs = cdf_a - cdf_b
    high = float(diffs.max())
    low = float(np.clip(-diffs.min(), 0.0, 1.0))
    d = low if low > high else high
    w = float(np.sum(np.abs(diffs[:-1]) * np.diff(merged)))
    return d, w


def _equal_to_previous(values: FloatArray, x: FloatArray, le: npt.NDArray[Any]) -> IntArray:
    """1 where ``values[le - 1] == x`` (``x`` is itself among ``values``), else 0."""
    hit = le > 0
    out = np.zeros(x.size, dtype=np.int64)
    out[hit] = values[le[hit] - 1] == x[hit]
    return out


def ks_asymptotic_pvalue(d: float, n1: int, n2: int) -> float:
    """Two-sided p-value of ``D`` from Smirnov's distribution, as ``ks_2samp`` computes it for
    samples beyond :data:`EXACT_KS_MAX_N`: ``kstwo.sf(D, round(n1*n2/(n1+n2)))``.

    Where scipy evaluates that as twice the one-sided tail (``2 * smirnov(n, D)``, for
    ``2.2 <= n*D² < 370``), the tail is summed here in one vectorised pass (Birnbaum and
    Tingey's formula) instead of scipy's scalar loop, ~20x faster at a million rows and equal
    to within 1e-8 relative."""
    from scipy.stats import kstwo

    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = float(np.round(m * n / (m + n)))
    t = en * d
    if en > 140 and 1.0 < t < en - 1 and d < 0.5 and 2.2 <= t * d < 370.0:
        return float(np.clip(2.0 * smirnov_tail(int(en), d), 0.0, 1.0))
    return float(np.clip(kstwo.sf(d, en), 0.0, 1.0))


def smirnov_tail(n: int, d: float) -> float:
    """``P(D+_n >= d)``, the one-sided Kolmogorov-Smirnov tail (``scipy.special.smirnov``):
    ``d Σ_j C(n, j) (1 - d - j/n)^(n-j) (d + j/n)^(j-1)`` for ``j = 0 … floor(n(1-d))``,
    summed in log space."""
    from scipy.special import gammaln

    j = np.arange(0, int(np.floor(n * (1.0 - d))) + 1, dtype=np.float64)
    log_choose = gammaln(n + 1.0) - gammaln(j + 1.0) - gammaln(n - j + 1.0)
    with np.errstate(divide="ignore"):
        terms = log_choose + (n - j) * np.log1p(-(d + j / n)) + (j - 1) * np.log(d + j / n)
    top = float(terms.max())
    return float(d * np.exp(top) * np.sum(np.exp(terms - top)))


def quantiles(dist: Ecdf, qs: FloatArray) -> FloatArray:
    """``np.quantile`` (linear interpolation) of the expanded sample, from its counts."""
    n = dist.n
    h = (n - 1) * qs
    lo = np.floor(h).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    # the k-th smallest observation (0-based) is values[first i with cum[i] > k]
    x_lo = dist.values[np.searchsorted(dist.cum, lo, side="right")]
    x_hi = dist.values[np.searchsorted(dist.cum, hi, side="right")]
    out: FloatArray = x_lo + (h - lo) * (x_hi - x_lo)
    return out


def right_closed_bin_counts(dist: Ecdf, edges: FloatArray) -> IntArray:
    """Observations in ``(-inf, e0], (e0, e1], …, (e_last, inf)`` for interior ``edges``."""
    at_or_below = dist.count_le(edges)
    return np.diff(at_or_below, prepend=np.int64(0), append=np.int64(dist.n))


def sturges_edges(low: float, high: float, n: int) -> FloatArray:
    """``np.histogram_bin_edges(x, bins='sturges')`` of ``n`` values spanning ``[low, high]``."""
    if low == high:
        low, high = low - 0.5, high + 0.5
    width = (high - low) / (math.log2(n) + 1.0)
    bins = int(np.ceil((high - low) / width)) if width else 1
    return np.linspace(low, high, bins + 1, endpoint=True)


def histogram(dist: Ecdf, edges: FloatArray) -> IntArray:
    """``np.histogram(sample, edges)[0]``: bins ``[e_i, e_i+1)``, the last one closed."""
    below = dist.count_lt(edges)
    below[-1] = dist.count_le(edges[-1:])[0]
    return np.diff(below)


def smoothed_shares(counts: IntArray) -> FloatArray:
    """Shares of ``counts`` with empty bins filled as Evidently's PSI fills them."""
    total = counts.sum()
    shares: FloatArray = counts / total
    empty = shares == 0
    if empty.any() and not empty.all():
        smallest = float(shares[~empty].min())
        shares[empty] = smallest / 10**6 if smallest <= PSI_EMPTY_SHARE else PSI_EMPTY_SHARE
    return shares


def psi(reference: IntArray, current: IntArray) -> float:
    """Population stability index of two aligned count vectors (natural log)."""
    r, c = smoothed_shares(reference), smoothed_shares(current)
    return float(np.sum((r - c) * np.log(r / c)))


def js_distance(p_counts: IntArray | FloatArray, q_counts: IntArray | FloatArray) -> float:
    """Jensen-Shannon distance of two aligned count vectors, natural log, as
    ``scipy.spatial.distance.jensenshannon`` computes it."""
    from scipy.special import rel_entr

    p = np.asarray(p_counts, dtype=np.float64)
    q = np.asarray(q_counts, dtype=np.float64)
    p = p / np.sum(p)
    q = q / np.sum(q)
    m = (p + q) / 2.0
    js = (np.sum(rel_entr(p, m)) + np.sum(rel_entr(q, m))) / 2.0
    return float(np.sqrt(js))


def chi2_goodness_of_fit(observed: IntArray, reference: IntArray) -> tuple[float, float | None]:
    """Chi-square statistic and p-value of current ``observed`` counts against the reference
    counts scaled to the same total (``scipy.stats.chisquare(observed, expected)``, as Evidently
    tests a categorical feature). A category the reference never saw gives an infinite
    statistic and p-value 0; a single category has no degrees of freedom (p-value ``None``)."""
    from scipy.stats import chi2

    expected = reference * (observed.sum() / reference.sum())
    if observed.size < 2:
        return 0.0, None
    seen = expected > 0
    if np.any(observed[~seen] > 0):
        return math.inf, 0.0
    terms = (observed[seen] - expected[seen]) ** 2 / expected[seen]
    statistic = float(terms.sum())
    return statistic, float(chi2.sf(statistic, observed.size - 1))
