"""Data quality and drift of a window of decisions against a reference profile.

::

    profile = build_profile(reference, score="score", contributions={...})   # once
    report = compare(profile, window)                                       # per window
    acc = WindowAccumulator(profile)                                        # or streamed:
    for batch in batches: acc.update(batch)
    report = acc.result()

Per feature: missing rate, out-of-range rate (numeric), unseen-category rate (categorical),
PSI, Jensen-Shannon distance, Kolmogorov-Smirnov (numeric) or chi-square (categorical) with
p-values, normalised Wasserstein distance (numeric); the same for the score; and attribution
drift, the change of each feature's share of mean |contribution|. Statuses come from effect
sizes only (:class:`DriftThresholds`): at a million rows every p-value is tiny, drift or not.

Memory: a window's numeric values are held once (8 bytes per value) to compare whole
distributions exactly; categorical columns and contributions are counted batch by batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import partial

import numpy as np
import polars as pl

from doorstep.core.stats.drift_report import (
    DEFAULT_THRESHOLDS,
    AttributionDrift,
    Check,
    ColumnDrift,
    DriftReport,
    DriftThresholds,
    Status,
    Threshold,
    worst_status,
)
from doorstep.core.stats.kernels import (
    EXACT_KS_MAX_N,
    IntArray,
    chi2_goodness_of_fit,
    ecdf_from_sorted,
    histogram,
    js_distance,
    ks_and_wasserstein,
    ks_asymptotic_pvalue,
    psi,
    right_closed_bin_counts,
    sturges_edges,
)
from doorstep.core.stats.profile import (
    CategoricalReference,
    NumericReference,
    ReferenceProfile,
    build_profile,
)
from doorstep.core.stats.tally import (
    Batch,
    CategoricalTally,
    Data,
    MeanAbsTally,
    NumericTally,
    iter_batches,
    run_all,
)

__all__ = [
    "AttributionDrift",
    "CategoricalReference",
    "Check",
    "ColumnDrift",
    "DEFAULT_THRESHOLDS",
    "DriftReport",
    "DriftThresholds",
    "NumericReference",
    "ReferenceProfile",
    "Status",
    "Threshold",
    "WindowAccumulator",
    "build_profile",
    "compare",
]

WASSERSTEIN_MIN_STD = 0.001
"""The Wasserstein distance is divided by ``max(reference std, 0.001)``, as Evidently does."""


# --- the window -------------------------------------------------------------------------------


class WindowAccumulator:
    """Counts a window batch by batch; :meth:`result` compares it with the profile.

    With ``explained_apart``, batches carry features and score only, and the contributions of
    (a sample of) the window's rows come through :meth:`update_contributions` instead: explaining
    every row costs far more than counting it."""

    def __init__(
        self,
        profile: ReferenceProfile,
        *,
        thresholds: DriftThresholds = DEFAULT_THRESHOLDS,
        threads: int | None = None,
        explained_apart: bool = False,
    ) -> None:
        self.profile = profile
        self.thresholds = thresholds
        self.threads = threads
        self.rows = 0
        self._tallies: dict[str, NumericTally | CategoricalTally] = {
            name: NumericTally(name) if ref.kind == "numeric" else CategoricalTally(name)
            for name, ref in profile.features.items()
        }
        self._score = NumericTally(profile.score.name) if profile.score is not None else None
        self._contributions = {f: MeanAbsTally() for f in profile.contribution_columns}
        self._explained_apart = explained_apart
        self.columns = list(
            dict.fromkeys(
                [
                    *profile.features,
                    *([profile.score.name] if profile.score is not None else []),
                    *([] if explained_apart else profile.contribution_columns.values()),
                ]
            )
        )

    def update(self, batch: Batch) -> None:
        """Count one batch (a polars frame, an Arrow table or record batch)."""
        for frame in iter_batches(batch, self.columns):
            self._add(frame)

    def update_all(self, data: Data) -> None:
        for frame in iter_batches(data, self.columns):
            self._add(frame)

    def update_contributions(self, batch: Batch) -> None:
        """Count the contribution columns of ``batch`` only (rows explained apart)."""
        columns = self.profile.contribution_columns
        for frame in iter_batches(batch, list(dict.fromkeys(columns.values()))):
            for feature, column in columns.items():
                self._contributions[feature].add(frame[column])

    def _add(self, frame: pl.DataFrame) -> None:
        self.rows += frame.height
        for name, tally in self._tallies.items():
            tally.add(frame[name])
        if self._score is not None:
            self._score.add(frame[self._score.name])
        if not self._explained_apart:
            for feature, column in self.profile.contribution_columns.items():
                self._contributions[feature].add(frame[column])

    def result(self) -> DriftReport:
        """The report of everything counted so far; more batches may follow."""
        th = self.thresholds
        jobs: list[Callable[[], ColumnDrift]] = []
        for name, ref in self.profile.features.items():
            tally = self._tallies[name]
            if isinstance(ref, NumericReference) and isinstance(tally, NumericTally):
                jobs.append(partial(numeric_drift, ref, tally, th))
            elif isinstance(ref, CategoricalReference) and isinstance(tally, CategoricalTally):
                jobs.append(partial(categorical_drift, ref, tally, th))
        if self.profile.score is not None and self._score is not None:
            jobs.append(partial(numeric_drift, self.profile.score, self._score, th))
        columns = run_all(jobs, self.threads)
        score = columns.pop() if self.profile.score is not None else None
        attributions, shift = attribution_drift(self.profile.attributions, self._contributions, th)
        statuses: list[Status] = [c.status for c in columns] + [a.status for a in attributions]
        if score is not None:
            statuses.append(score.status)
        status = worst_status(statuses)
        return DriftReport(self.rows, tuple(columns), score, attributions, shift, status)


def compare(
    profile: ReferenceProfile,
    data: Data,
    *,
    thresholds: DriftThresholds = DEFAULT_THRESHOLDS,
    threads: int | None = None,
) -> DriftReport:
    """Compare a window (a frame, a lazy frame or an iterable of batches) with ``profile``."""
    acc = WindowAccumulator(profile, thresholds=thresholds, threads=threads)
    acc.update_all(data)
    return acc.result()


# --- one column -------------------------------------------------------------------------------


def numeric_drift(ref: NumericReference, tally: NumericTally, th: DriftThresholds) -> ColumnDrift:
    """Quality and drift of a numeric column."""
    values = tally.sorted_values()
    base = _base(ref, tally)
    if values.size == 0 or ref.present == 0:
        return _with_status(base, th, drift_checked=False)
    cur = ecdf_from_sorted(values)
    refd = ref.distribution
    low = -math.inf if ref.low is None else ref.low
    high = math.inf if ref.high is None else ref.high
    edges = np.asarray([low, high])
    outside = int(cur.count_lt(edges[:1])[0] + cur.n - cur.count_le(edges[1:])[0])
    d, w = ks_and_wasserstein(refd, cur)
    if max(refd.n, cur.n) <= EXACT_KS_MAX_N:
        from scipy.stats import ks_2samp

        exact = ks_2samp(refd.expand(), values)  # D rounded to a multiple of 1/lcm(n1, n2)
        d, p = float(exact.statistic), float(exact.pvalue)
    else:
        p = ks_asymptotic_pvalue(d, refd.n, cur.n)
    if ref.discrete:
        keys = np.union1d(refd.values, cur.values)
        ref_counts: IntArray = refd.count_le(keys) - refd.count_lt(keys)
        cur_counts: IntArray = cur.count_le(keys) - cur.count_lt(keys)
        psi_value = psi(ref_counts, cur_counts)
        js = js_distance(ref_counts, cur_counts)
    else:
        psi_value = psi(
            right_closed_bin_counts(refd, ref.psi_edges),
            right_closed_bin_counts(cur, ref.psi_edges),
        )
        bins = sturges_edges(
            min(refd.values[0], cur.values[0]),
            max(refd.values[-1], cur.values[-1]),
            refd.n + cur.n,
        )
        js = js_distance(histogram(refd, bins), histogram(cur, bins))
    norm = max(ref.std or 0.0, WASSERSTEIN_MIN_STD)
    column = replace(
        base,
        out_of_range_rate=outside / cur.n,
        psi=psi_value,
        js_distance=js,
        ks_statistic=d,
        ks_pvalue=p,
        wasserstein=w,
        wasserstein_norm=w / norm,
    )
    return _with_status(column, th, drift_checked=min(cur.n, refd.n) >= th.min_rows)


def categorical_drift(
    ref: CategoricalReference, tally: CategoricalTally, th: DriftThresholds
) -> ColumnDrift:
    """Quality and drift of a categorical column."""
    base = _base(ref, tally)
    present = tally.rows - tally.missing
    if present == 0 or ref.present == 0:
        return _with_status(base, th, drift_checked=False)
    known = set(ref.categories)
    unseen = sorted(
        ((k, v) for k, v in tally.counts.items() if k not in known), key=lambda kv: -kv[1]
    )
    keys = [*ref.categories, *(k for k, _ in unseen)]
    ref_counts = np.concatenate([ref.counts, np.zeros(len(unseen), dtype=np.int64)])
    cur_counts = np.asarray([tally.counts.get(k, 0) for k in keys], dtype=np.int64)
    chi2, p = chi2_goodness_of_fit(cur_counts, ref_counts)
    column = replace(
        base,
        unseen_rate=sum(v for _, v in unseen) / present,
        psi=psi(ref_counts, cur_counts),
        js_distance=js_distance(ref_counts, cur_counts),
        chi2_statistic=chi2,
        chi2_pvalue=p,
    )
    return _with_status(column, th, drift_checked=min(present, ref.present) >= th.min_rows)


def _base(
    ref: NumericReference | CategoricalReference, tally: NumericTally | CategoricalTally
) -> ColumnDrift:
    return ColumnDrift(
        name=ref.name,
        kind=ref.kind,
        rows=tally.rows,
        reference_rows=ref.rows,
        missing_rate=tally.missing / tally.rows if tally.rows else None,
        reference_missing_rate=ref.missing / ref.rows if ref.rows else None,
    )


def _with_status(column: ColumnDrift, th: DriftThresholds, *, drift_checked: bool) -> ColumnDrift:
    checks: list[Check] = []

    def check(statistic: str, value: float | None, threshold: Threshold) -> None:
        level = threshold.level(value)
        if level != "ok" and value is not None:
            bound = threshold.alert if level == "alert" else threshold.warn
            checks.append(Check(statistic, value, bound, level))

    if column.missing_rate is not None:
        increase = column.missing_rate - (column.reference_missing_rate or 0.0)
        check("missing_rate_increase", increase, th.missing_rate_increase)
    check("out_of_range_rate", column.out_of_range_rate, th.out_of_range_rate)
    check("unseen_rate", column.unseen_rate, th.unseen_rate)
    if drift_checked:
        check("psi", column.psi, th.psi)
        check("js_distance", column.js_distance, th.js_distance)
        check("wasserstein_norm", column.wasserstein_norm, th.wasserstein_norm)
    status: Status = "ok"
    if checks:
        status = "alert" if any(c.level == "alert" for c in checks) else "warn"
    elif not drift_checked:
        status = "insufficient_data"
    return replace(column, status=status, checks=tuple(checks))


# --- attributions -----------------------------------------------------------------------------


def attribution_drift(
    reference: Mapping[str, float],
    current: Mapping[str, MeanAbsTally],
    th: DriftThresholds,
) -> tuple[tuple[AttributionDrift, ...], float | None]:
    """Each feature's share of the summed mean |contribution|, reference vs window."""
    features = [f for f in reference if f in current]
    if not features:
        return (), None
    ref_total = sum(reference[f] for f in features)
    means = {f: current[f].mean for f in features}
    counts = {f: current[f].count for f in features}
    enough = all(m is not None for m in means.values()) and min(counts.values()) >= th.min_rows
    cur_total = sum(m for m in means.values() if m is not None)
    out: list[AttributionDrift] = []
    changes: list[float] = []
    for f in features:
        ref_share = reference[f] / ref_total if ref_total else 0.0
        mean = means[f]
        share = mean / cur_total if mean is not None and cur_total else None
        change = None if share is None else share - ref_share
        checks: tuple[Check, ...] = ()
        status: Status = "ok" if enough else "insufficient_data"
        if enough and change is not None:
            changes.append(abs(change))
            level = th.attribution_share_change.level(abs(change))
            if level != "ok":
                threshold = th.attribution_share_change
                bound = threshold.alert if level == "alert" else threshold.warn
                checks = (Check("attribution_share_change", abs(change), bound, level),)
                status = level
        out.append(
            AttributionDrift(f, reference[f], mean, ref_share, share, change, status, checks)
        )
    shift = sum(changes) / 2 if enough else None
    return tuple(out), shift
