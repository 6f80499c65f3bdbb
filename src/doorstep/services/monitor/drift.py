"""Drift of an app's stored decisions against its reference data, window by window.

The reference profile (:func:`doorstep.core.stats.drift.build_profile`) is built once per app
and model version from the spec's ``reference:`` sample, the model's scores of it included, and
kept as Arrow under the store's home (:class:`ProfileCache`). Each window's decisions are read
from the store a page at a time, oldest first, and fed to a
:class:`~doorstep.core.stats.drift.WindowAccumulator`; a window's accumulator is dropped once
the pages have passed its end, so memory holds one window's values, never the history.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import polars as pl

from doorstep.core.spec.models import Spec
from doorstep.core.stats.drift import (
    DEFAULT_THRESHOLDS,
    DriftReport,
    DriftThresholds,
    ReferenceProfile,
    WindowAccumulator,
    build_profile,
)
from doorstep.core.stats.drift_report import FeatureKind, ReconstructionDrift, Threshold
from doorstep.core.stats.reconstruction import ReconstructionAccumulator, fit_reconstruction
from doorstep.errors import DoorstepError
from doorstep.services.monitor.attribution import (
    AppProfile,
    Attribution,
    HashSample,
    attribution_for,
    attribution_section,
    contribution_columns,
    explain_frame,
    explain_stored,
    reference_sample,
)
from doorstep.services.monitor.calibration import reference_calibration, reference_labels
from doorstep.services.monitor.loss_model import fit_loss_model
from doorstep.store.protocols import OutcomeStore
from doorstep.types.drift import DriftSection, DriftWindow

if TYPE_CHECKING:
    from doorstep.services.apps.loading import LoadedApp

__all__ = [
    "PROFILE_FORMAT",
    "AppProfile",
    "ProfileCache",
    "WindowObserver",
    "drift_features",
    "drift_thresholds",
    "drift_windows",
    "reference_profile",
]

PROFILE_FORMAT = 4
"""Bumped when a cached profile must be rebuilt (part of every cache key)."""
SCORE_COLUMN = "score"
ACTION_COLUMN = "action"
CHUNK_ROWS = 20_000

_DTYPES: dict[str, Any] = {
    "int": pl.Int64,
    "float": pl.Float64,
    "bool": pl.Boolean,
    "category": pl.String,
}


def drift_features(spec: Spec) -> dict[str, FeatureKind]:
    """The model's input fields that drift is measured on: numbers are ``numeric``; categories
    and booleans ``categorical`` (free text and datetimes are not compared)."""
    kinds: dict[str, FeatureKind] = {}
    for name, field in spec.feature_fields.items():
        if field.type in ("int", "float"):
            kinds[name] = "numeric"
        elif field.type in ("category", "bool"):
            kinds[name] = "categorical"
    return kinds


def drift_thresholds(spec: Spec) -> DriftThresholds:
    """The spec's ``monitoring.drift`` thresholds over the defaults."""
    drift = spec.monitoring.drift
    changes: dict[str, Any] = {"min_rows": drift.min_rows}
    for name in vars(DEFAULT_THRESHOLDS):
        given = getattr(drift, name, None)
        if name != "min_rows" and given is not None:
            changes[name] = Threshold(given.warn, given.alert)
    return replace(DEFAULT_THRESHOLDS, **changes)


def _ranges(spec: Spec) -> dict[str, tuple[float | None, float | None]]:
    return {
        name: (field.min, field.max)
        for name, field in spec.feature_fields.items()
        if field.type in ("int", "float") and (field.min is not None or field.max is not None)
    }


def _scores(app: LoadedApp, reference: pl.DataFrame) -> pl.Series | None:
    if app.spec.model.task == "multiclass":
        return None  # one score per class: no single score distribution to compare
    return pl.Series(SCORE_COLUMN, app.model.predict(reference), dtype=pl.Float64)


def reference_profile(app: LoadedApp) -> AppProfile | None:
    """The drift profile of ``app``'s reference sample with its model's scores and, unless
    attribution drift is off, the contributions of a seeded sample of ``attribution_rows``
    reference rows (``None`` when the spec names no reference data)."""
    reference = app.reference
    if reference is None or reference.height == 0:
        return None
    features = drift_features(app.spec)
    frame = reference.select(list(features))
    scores = _scores(app, reference)
    if scores is not None:
        frame = frame.with_columns(scores)
    attribution = _attribution(app)
    columns: dict[str, str] = {}
    if attribution.enabled and attribution.model is not None:
        chosen = reference_sample(reference, attribution.rows)
        explained = explain_frame(attribution.model, reference[chosen])
        columns = contribution_columns(list(attribution.model.metadata.feature_names))
        for column in explained.columns:  # rows left out of the sample stay null (not counted)
            values = np.full(reference.height, np.nan)
            values[chosen] = explained[column].to_numpy()
            frame = frame.with_columns(pl.Series(column, values))
    profile = build_profile(
        frame,
        features=features,
        score=SCORE_COLUMN if scores is not None else None,
        contributions=columns,
        ranges=_ranges(app.spec),
    )
    calibration, note = reference_calibration(app, scores)
    loss = None
    if app.spec.model.task == "regression":
        loss, note = fit_loss_model(app, scores)
    profile = replace(
        profile,
        calibration=calibration,
        calibration_note=note,
        loss=loss,
        reconstruction=fit_reconstruction(reference, features),
        labels=reference_labels(app, scores) if _derives(app.spec) else None,
    )
    return AppProfile.of(profile, attribution)


def _derives(spec: Spec) -> bool:
    """Whether a quality threshold is derived from the reference (its labels are kept)."""
    alerts = spec.monitoring.alerts
    return alerts is not None and any(
        given.from_reference for given in alerts.quality.thresholds().values()
    )


def _attribution(app: LoadedApp) -> Attribution:
    return attribution_for(app.spec, app.model, app.reference)


def profile_key(app: LoadedApp) -> str:
    """What a cached profile depends on: the model version, the reference file's bytes and
    sample size, the fields' kinds and bounds, and how many reference rows are explained (and
    by which method) for attribution drift."""
    spec = app.spec
    digest = hashlib.sha256()
    if spec.reference is not None:
        path = app.root / spec.reference.path
        digest.update(hashlib.sha256(path.read_bytes()).digest() if path.is_file() else b"")
    described = {
        "format": PROFILE_FORMAT,
        "app": spec.app.name,
        "model_version": app.model_version,
        "sample": spec.reference.sample if spec.reference is not None else None,
        "features": drift_features(spec),
        "ranges": _ranges(spec),
        "attribution_rows": spec.monitoring.drift.attribution_rows,
        "explain_method": spec.explain.method,
        "outcome": spec.monitoring.outcome.model_dump(mode="json"),
        "labels": _derives(spec),
    }
    digest.update(json.dumps(described, sort_keys=True).encode())
    return digest.hexdigest()


class ProfileCache:
    """Reference profiles by app and model version: in memory, and as Arrow files in
    ``directory`` (``None``: memory only) so a restart does not profile again."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._profiles: dict[str, AppProfile | None] = {}

    def get(self, app: LoadedApp) -> AppProfile | None:
        key = profile_key(app)
        with self._lock:
            if key in self._profiles:
                return self._profiles[key]
            profile = self._load(app, key)
            self._profiles[key] = profile
            return profile

    def path(self, app: LoadedApp, key: str) -> Path | None:
        if self.directory is None:
            return None
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in app.model_version)
        return self.directory / f"{app.name}-{safe}-{key[:16]}.arrow"

    def _load(self, app: LoadedApp, key: str) -> AppProfile | None:
        path = self.path(app, key)
        if path is not None and path.is_file():
            return AppProfile.of(ReferenceProfile.from_bytes(path.read_bytes()), _attribution(app))
        profile = reference_profile(app)
        if profile is not None and path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".partial")
            partial.write_bytes(profile.to_bytes())
            partial.replace(path)  # atomic: another process reads a whole file or none
        return profile


class WindowObserver(Protocol):
    """Something counted over the windows' decoded frames beside drift."""

    def update(self, index: int, frame: pl.DataFrame) -> None:
        """Decisions of window ``index`` (a page's part of it; the window's pages in order)."""

    def finish(self, index: int) -> None:
        """Window ``index`` has had all its decisions."""


def _decode(page: list[tuple[Any, ...]], spec: Spec, kinds: dict[str, FeatureKind]) -> pl.DataFrame:
    """A page of ``(id, created_us, model_version, inputs JSON, score, action)`` as typed
    columns (with the decision id and the inputs' JSON text kept as ``_ID`` and ``_RAW``)."""
    fields = spec.feature_fields
    struct = pl.Struct({name: _DTYPES[fields[name].type] for name in kinds})
    raw = pl.DataFrame(
        {
            _ID: [row[0] for row in page],
            "created_us": [row[1] for row in page],
            "inputs": [row[3] for row in page],
            SCORE_COLUMN: [row[4] for row in page],
            ACTION_COLUMN: [row[5] for row in page],
        },
        schema={
            _ID: pl.String,
            "created_us": pl.Int64,
            "inputs": pl.String,
            SCORE_COLUMN: pl.Float64,
            ACTION_COLUMN: pl.String,
        },
    )
    decoded = raw.with_columns(
        pl.col("inputs").alias(_RAW), pl.col("inputs").str.json_decode(struct)
    )
    return decoded.unnest("inputs")


_ID, _RAW = "__decision_id", "__inputs"


class _Window:
    """One window's accumulator, and the sample of its decisions to explain."""

    def __init__(
        self,
        index: int,
        profile: ReferenceProfile,
        thresholds: DriftThresholds,
        attribution: Attribution | None,
    ) -> None:
        self.index = index
        self.attribution = attribution
        self.sample = HashSample(attribution.rows) if attribution is not None else None
        if attribution is None:
            profile = replace(profile, attributions={}, contribution_columns={})
        self.accumulator = WindowAccumulator(
            profile, thresholds=thresholds, explained_apart=attribution is not None
        )
        model = profile.reconstruction
        self.multivariate = (
            None
            if model is None
            else ReconstructionAccumulator(
                model, threshold=thresholds.reconstruction_increase, min_rows=thresholds.min_rows
            )
        )
        self.note: str | None = None

    def update(self, frame: pl.DataFrame) -> None:
        self.accumulator.update(frame)
        if self.multivariate is not None:
            self.multivariate.update(frame)
        if self.sample is not None:
            self.sample.add(frame[_ID].to_list(), frame[_RAW].to_list())

    def result(self) -> DriftReport:
        if self.sample is not None and self.attribution is not None:
            try:
                explained = explain_stored(self.attribution, self.sample.rows())
            except DoorstepError as exc:  # reported, not raised: drift of the inputs still counts
                self.note = f"window {self.index}: the model could not explain it ({exc.message})"
                explained = None
            if explained is not None:
                self.accumulator.update_contributions(explained)
        return self.accumulator.result()


def drift_windows(
    spec: Spec,
    store: OutcomeStore,
    profile: ReferenceProfile,
    bounds: Sequence[tuple[datetime, datetime]],
    *,
    thresholds: DriftThresholds = DEFAULT_THRESHOLDS,
    chunk_rows: int = CHUNK_ROWS,
    explain_windows: Collection[int] | None = None,
    observers: Sequence[WindowObserver] = (),
) -> DriftSection:
    """Drift of each window in ``bounds`` (consecutive, oldest first) against ``profile``: the
    comparison of each window with decisions (its JSON: a summary per window, and the whole
    comparison of the latest).

    Attribution drift is measured when ``profile`` is an :class:`AppProfile` whose model explains
    (a sample of ``attribution_rows`` decisions per window), in the windows of
    ``explain_windows`` (indices into ``bounds``; default: the last ``attribution_windows``).
    Each of ``observers`` sees the same window frames (estimated quality counts them)."""
    kinds = {name: kind for name, kind in drift_features(spec).items() if name in profile.features}
    attribution = profile.attribution if isinstance(profile, AppProfile) else None
    explaining = (
        attribution is not None and attribution.enabled and bool(profile.contribution_columns)
    )
    if explain_windows is None and attribution is not None:
        explain_windows = range(max(0, len(bounds) - attribution.windows), len(bounds))
    explained = set(explain_windows or ()) if explaining else set()
    ends_us = [_us(end) for _, end in bounds]
    reports: list[DriftReport | None] = [None] * len(bounds)
    multivariate: list[ReconstructionDrift | None] = [None] * len(bounds)
    notes: list[str] = []
    current: _Window | None = None

    def finish() -> None:
        if current is not None:
            reports[current.index] = current.result().finite()
            if current.multivariate is not None:
                multivariate[current.index] = current.multivariate.result()
            for observer in observers:
                observer.finish(current.index)
            if current.note:
                notes.append(current.note)

    if bounds:
        pages = store.iter_window_inputs(
            spec.app.name, since=bounds[0][0], until=bounds[-1][1], chunk_rows=chunk_rows
        )
        for page in pages:
            frame = _decode(page, spec, kinds)
            index = 0 if current is None else current.index
            while frame.height:
                while frame["created_us"][0] >= ends_us[index]:
                    index += 1
                if current is None or current.index != index:
                    finish()
                    explain = attribution if index in explained else None
                    current = _Window(index, profile, thresholds, explain)
                inside = frame.filter(pl.col("created_us") < ends_us[index])
                current.update(inside)
                for observer in observers:
                    observer.update(index, inside)
                frame = frame.slice(inside.height)
        finish()
        current = None
    return DriftSection(
        features=kinds,
        reference_rows=max((ref.rows for ref in profile.features.values()), default=0),
        thresholds=thresholds,
        attribution=attribution_section(attribution, profile, explaining, notes),
        windows=tuple(
            DriftWindow(start, end, reports[index], multivariate[index])
            for index, (start, end) in enumerate(bounds)
        ),
    )


def _us(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
