"""The monitoring report of an app (:class:`~doorstep.types.MonitoringReport`): live quality per
window, human overrides, ROI against the control group and drift, from one streamed pass over
labelled decisions.

Decisions are placed in windows (hour, day or week, UTC; weeks start on Monday) by the time they
were made. The store streams the range's labelled decisions sorted by score; each chunk feeds
the accumulators of :mod:`doorstep.core.stats` (one per window, one for the whole range, one
for overrides, one for ROI), so memory stays flat whatever the history.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Literal

import polars as pl

from doorstep.core.outcomes import OutcomeSemantics, outcome_semantics
from doorstep.core.spec.models import DriftSpec, Spec
from doorstep.core.stats.drift import DEFAULT_THRESHOLDS, DriftThresholds, ReferenceProfile
from doorstep.core.stats.quality import BinaryQuality, MulticlassQuality, RegressionQuality
from doorstep.core.stats.reference_thresholds import ReferenceLabels
from doorstep.core.stats.roi import ActionEconomics, RoiAccumulator
from doorstep.core.windows import window_start as calendar_start
from doorstep.services.monitor.blas import with_one_blas_thread
from doorstep.services.monitor.drift import WindowObserver, drift_windows
from doorstep.services.monitor.estimation import (
    EstimationObserver,
    RealisedValue,
    estimation_section,
    loss_section,
    unavailable,
)
from doorstep.services.monitor.loss_model import LossObserver
from doorstep.services.monitor.overrides import OverridesAccumulator
from doorstep.services.monitor.quality_judgement import (
    derived_thresholds,
    judge_quality,
    reference_window_size,
)
from doorstep.services.monitor.ranges import (
    DEFAULT_PERIODS,
    MAX_WINDOWS,
    WindowRange,
    resolve_range,
)
from doorstep.services.monitor.rejects import rejects_section
from doorstep.store.feedback import LABELLED_COLUMNS, FeedbackCounts, WindowCounts
from doorstep.store.protocols import OutcomeStore
from doorstep.types.monitoring import (
    Counts,
    MonitoringReport,
    OutcomeDescription,
    QualitySection,
    QualityWindow,
    RoiUnavailable,
    Window,
)

__all__ = [
    "DEFAULT_PERIODS",
    "MAX_WINDOWS",
    "WINDOW_SECONDS",
    "Window",
    "monitoring_report",
    "window_start",
]

WINDOW_SECONDS: dict[str, int] = {"hour": 3_600, "day": 86_400, "week": 604_800}
"""The length of the fixed calendar windows in UTC (months and windows of rows have none)."""
CHUNK_ROWS = 20_000

_SCHEMA: dict[str, Any] = {
    "id": pl.String,
    "created_us": pl.Int64,
    "score": pl.Float64,
    "predicted_class": pl.String,
    "action": pl.String,
    "final_action": pl.String,
    "status": pl.String,
    "control": pl.Boolean,
    "review": pl.Boolean,
    "label": pl.String,
    "value": pl.Float64,
}
assert tuple(_SCHEMA) == LABELLED_COLUMNS


def window_start(moment: datetime, window: str) -> datetime:
    """The start of the (UTC) calendar window holding ``moment``."""
    return calendar_start(moment, window, UTC)


class _Quality:
    """Quality accumulators per window and for the whole range, fed with filtered chunks."""

    def __init__(self, spec: Spec, semantics: OutcomeSemantics) -> None:
        self.spec, self.semantics = spec, semantics
        self.windows: dict[int, Any] = {}
        self.total = self.new(calibration=True)

    def new(self, *, calibration: bool = False) -> Any:
        monitoring = self.spec.monitoring
        minimum = monitoring.min_samples.quality
        task = self.spec.model.task
        if task == "binary":
            bins = monitoring.calibration_bins if calibration else 1
            return BinaryQuality(bins=bins, min_labelled=minimum)
        if task == "regression":
            return RegressionQuality(min_labelled=minimum)
        return MulticlassQuality(min_labelled=minimum)

    def add(self, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        for index in frame["window"].unique().sort().to_list():
            part = frame.filter(pl.col("window") == index)
            accumulator = self.windows.get(index)
            if accumulator is None:
                accumulator = self.windows[index] = self.new()
            self._feed(accumulator, part)
        self._feed(self.total, frame)

    def _feed(self, accumulator: Any, frame: pl.DataFrame) -> None:
        if isinstance(accumulator, BinaryQuality):
            accumulator.add(
                frame["score"].to_numpy(),
                frame["positive"].to_numpy(),
                frame["predicted"].to_numpy(),
            )
        elif isinstance(accumulator, RegressionQuality):
            accumulator.add(frame["score"].to_numpy(), frame["value"].to_numpy())
        else:
            accumulator.add((frame["predicted_class"] == frame["label"]).to_numpy())


def _economics(spec: Spec) -> dict[str, ActionEconomics]:
    return {
        name: ActionEconomics(value=action.value, cost=action.cost)
        for name, action in spec.actions.items()
    }


def _prepare(
    rows: list[Any], spec: Spec, semantics: OutcomeSemantics, span: WindowRange
) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema=_SCHEMA, orient="row", strict=False)
    status = pl.col("status")
    taken = (
        pl.when(status.is_in(["approved", "overridden"]))
        .then(pl.col("final_action"))
        .when(status == "decided")
        .then(pl.col("action"))
        .otherwise(pl.lit("none"))
        .fill_null("none")
    )
    edges = pl.Series([_epoch_us(edge) for edge in span.edges[1:-1]], dtype=pl.Int64)
    columns = [
        taken.alias("taken"),
        edges.search_sorted(frame["created_us"], side="right").cast(pl.Int64).alias("window"),
    ]
    if semantics.kind == "value":
        columns.append(pl.col("value").is_not_null().alias("valid"))
        columns.append(pl.col("value").alias("outcome"))
    else:
        valid = pl.col("label").is_not_null()
        if semantics.binary:
            valid = pl.col("label").is_in([semantics.positive, semantics.negative])
        positive = pl.col("label") == pl.lit(semantics.positive)
        columns += [
            valid.alias("valid"),
            positive.fill_null(False).alias("positive"),
            positive.cast(pl.Float64).alias("outcome"),
        ]
    threshold = spec.monitoring.threshold
    predicted = (
        pl.col("score") >= threshold if threshold is not None else pl.col("action") != "none"
    )
    columns.append(predicted.alias("predicted"))
    return frame.with_columns(columns)


@with_one_blas_thread
def monitoring_report(
    spec: Spec,
    store: OutcomeStore,
    *,
    window: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    periods: int | None = None,
    now: datetime | None = None,
    chunk_rows: int = CHUNK_ROWS,
    profile: ReferenceProfile | None = None,
    thresholds: DriftThresholds = DEFAULT_THRESHOLDS,
    reference_labels: ReferenceLabels | None = None,
) -> MonitoringReport:
    """Quality per window and overall, overrides and ROI of ``spec``'s app (its JSON,
    :meth:`~doorstep.types.MonitoringReport.to_dict`, is documented in ``docs/monitoring.md``
    and ``MonitoringOut``); with a reference ``profile``, drift per window too (else ``drift``
    is ``None``). Quality thresholds derived from the reference are measured on
    ``reference_labels``, else the ``profile``'s (an alert run without drift passes the labels
    alone)."""
    now = now or datetime.now(UTC)
    semantics = outcome_semantics(spec)
    span = resolve_range(spec, store, window, since, until, periods, now)
    app = spec.app.name
    counts = store.feedback_counts(app, since=span.since, until=span.until)
    step = span.step_seconds
    if step is not None:
        per_window = store.window_counts(app, since=span.since, until=span.until, step_seconds=step)
    else:
        per_window = store.window_counts_between(app, edges=list(span.edges))
    quality = _Quality(spec, semantics)
    realised_value = RealisedValue(spec)
    roi = _roi_accumulator(spec, semantics)
    overrides = OverridesAccumulator()
    invalid = 0
    untreated_only = spec.monitoring.quality_on == "untreated"
    for rows in store.iter_labelled(app, since=span.since, until=span.until, chunk_rows=chunk_rows):
        frame = _prepare(rows, spec, semantics, span)
        valid = frame.filter(pl.col("valid"))
        invalid += frame.height - valid.height
        measured = valid.filter(pl.col("taken") == "none") if untreated_only else valid
        quality.add(measured)
        if semantics.binary:
            realised_value.add(measured)
        if roi is not None:
            acting = valid.filter(pl.col("action") != "none")
            roi.add(
                acting["action"].to_numpy(),
                acting["control"].to_numpy(),
                acting["taken"].to_numpy(),
                acting["outcome"].to_numpy(),
            )
        if semantics.binary:
            overrides.add(valid)
    windows = []
    bounds = [span.bounds(index) for index in range(span.count)]
    for index, (start, end) in enumerate(bounds):
        accumulator = quality.windows.get(index) or quality.new()
        windows.append(QualityWindow(start, end, replace(accumulator.result(), calibration=())))
    edges = list(span.edges)
    quality_section, overrides_section = judge_quality(
        spec,
        QualitySection(
            on=spec.monitoring.quality_on,
            threshold=spec.monitoring.threshold,
            total=quality.total.result(),
            windows=tuple(windows),
        ),
        overrides.result(counts, per_window, bounds, binary=semantics.binary),
        derived_thresholds(
            spec,
            reference_labels or (profile.labels if profile is not None else None),
            reference_window_size(span.size, windows),
        ),
    )
    calibration = profile.calibration if profile is not None else None
    observer = EstimationObserver(spec, calibration) if calibration is not None else None
    loss = profile.loss if profile is not None else None
    losses = LossObserver(loss) if loss is not None else None
    observers: tuple[WindowObserver, ...] = tuple(o for o in (observer, losses) if o is not None)
    drift = (
        None
        if profile is None
        else drift_windows(
            spec,
            store,
            profile,
            bounds,
            thresholds=thresholds,
            chunk_rows=chunk_rows,
            explain_windows=_latest_with_decisions(per_window, spec.monitoring.drift),
            observers=observers,
        )
    )
    estimated = None
    if profile is not None and loss is not None and losses is not None:
        estimated = loss_section(spec, loss, losses.results, bounds, quality_section.windows)
    elif profile is not None:
        estimated = (
            unavailable(spec, profile.calibration_note or "the scores are not calibrated")
            if calibration is None or observer is None
            else estimation_section(
                spec, calibration, observer, bounds, quality_section.windows, realised_value
            )
        )
    return MonitoringReport(
        app=app,
        window=span.window,
        since=span.since,
        until=span.until,
        generated_at=now,
        outcome=_describe(semantics),
        counts=_counts(counts, invalid, per_window),
        quality=quality_section,
        overrides=overrides_section,
        roi=roi.result() if roi is not None else _no_roi(spec),
        rejects=rejects_section(bounds, per_window, store.reject_counts(app, edges=edges)),
        drift=drift,
        estimated=estimated,
    )


def _epoch_us(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _latest_with_decisions(per_window: list[WindowCounts], drift: DriftSpec) -> list[int]:
    """The windows attribution drift is measured in: the latest ``attribution_windows`` with
    decisions (explaining costs ~1 ms a row, so not every window of a long range)."""
    busy = sorted({row.window for row in per_window if row.decisions})
    return busy[-drift.attribution_windows :]


def _roi_accumulator(spec: Spec, semantics: OutcomeSemantics) -> RoiAccumulator | None:
    if semantics.kind == "label" and semantics.positive is None:
        return None  # multiclass without a positive label: no outcome rate to compare
    kind: Literal["label", "value"] = semantics.kind
    return RoiAccumulator(
        kind,
        semantics.goal,
        _economics(spec),
        min_outcomes=spec.monitoring.min_samples.roi,
    )


def _no_roi(spec: Spec) -> RoiUnavailable:
    return RoiUnavailable(
        f"A {spec.model.task} app needs monitoring.outcome.positive (the class whose rate "
        "acting should change) for ROI."
    )


def _describe(semantics: OutcomeSemantics) -> OutcomeDescription:
    return OutcomeDescription(
        kind=semantics.kind,
        field=semantics.field,
        positive=semantics.positive,
        negative=semantics.negative,
        goal=semantics.goal,
        horizon_seconds=semantics.horizon.total_seconds(),
    )


def _counts(counts: FeedbackCounts, invalid: int, per_window: list[WindowCounts]) -> Counts:
    versions: dict[str, int] = {}
    for row in per_window:
        versions[row.model_version] = versions.get(row.model_version, 0) + row.decisions
    return Counts(
        decisions=counts.decisions,
        labelled=counts.labelled,
        would_act=counts.would_act,
        control=counts.control,
        outcomes_matched=counts.outcomes_matched,
        unmatched_outcomes=dict(sorted(counts.unmatched.items())),
        labels_not_understood=invalid,
        model_versions=dict(sorted(versions.items())),
    )
