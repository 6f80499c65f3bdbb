"""Attribution drift of an app: its explainer run on bounded samples, never on every decision.

Explaining costs about a millisecond a row (LightGBM ``pred_contrib`` / TreeSHAP run ~500-2,000
rows a second a core), a hundred times the cost of scoring it, so at most
``monitoring.drift.attribution_rows`` rows are explained on each side:

- **the reference**: a seeded uniform sample of the spec's reference rows (the same rows on every
  rebuild), explained once per model version and kept in the cached profile;
- **a window**: the decisions whose id hashes lowest (BLAKE2b, 64 bits) among the window's,
  kept while the window's pages stream past (:class:`HashSample`, bounded memory), explained
  when the window ends. A hash of the id makes the sample uniform, independent of how pages
  cut the window, and the same on every rerun and in a report of that window alone.

Only exact explainers count (LightGBM, XGBoost, scikit-learn trees, ONNX tree ensembles): the
permutation fallback costs thousands of predictions a row and is itself a sample, so a model
explained only by it reports no attribution drift, with a note saying why.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt
import polars as pl

from doorstep.core.contract import frame_from_records, validate_batch
from doorstep.core.ports import Model
from doorstep.core.spec.models import Spec
from doorstep.core.stats.profile import ReferenceProfile
from doorstep.errors import DoorstepError
from doorstep.types.drift import AttributionSetup

__all__ = [
    "AppProfile",
    "Attribution",
    "HashSample",
    "attribution_for",
    "attribution_section",
    "contribution_columns",
    "explain_frame",
    "explain_stored",
    "reference_sample",
]

SEED = 20_240_607
"""Seed of the reference sample: the same rows on every rebuild of a profile."""
COLUMN_PREFIX = "__contribution."


def contribution_columns(features: Sequence[str]) -> dict[str, str]:
    """Feature -> the column holding its |contribution| in profiles and explained samples."""
    return {name: f"{COLUMN_PREFIX}{name}" for name in features}


@dataclass(frozen=True, eq=False)
class Attribution:
    """How an app's rows are explained for attribution drift (``model`` ``None``: they are not,
    and ``note`` says why)."""

    rows: int
    windows: int
    model: Model | None = field(repr=False)
    spec: Spec = field(repr=False)
    method: str | None = None
    note: str | None = None

    @property
    def enabled(self) -> bool:
        return self.model is not None and self.rows > 0

    def describe(self) -> AttributionSetup:
        return AttributionSetup(
            rows=self.rows if self.enabled else 0,
            windows=self.windows,
            method=self.method,
            note=self.note,
        )


@dataclass(frozen=True, eq=False)
class AppProfile(ReferenceProfile):
    """An app's reference profile with the explainer of the model version it was built for: the
    windows' contributions must come from the model that gave the reference's."""

    attribution: Attribution | None = field(default=None, kw_only=True)

    @classmethod
    def of(cls, profile: ReferenceProfile, attribution: Attribution) -> AppProfile:
        return cls(
            profile.features,
            profile.score,
            profile.attributions,
            profile.contribution_columns,
            profile.psi_bins,
            profile.calibration,
            profile.calibration_note,
            profile.reconstruction,
            profile.labels,
            profile.loss,
            attribution=attribution,
        )


def attribution_for(app_spec: Spec, model: Model, reference: pl.DataFrame | None) -> Attribution:
    """Whether and how ``model`` is explained for attribution drift."""
    drift = app_spec.monitoring.drift
    rows, windows = drift.attribution_rows, drift.attribution_windows
    if rows == 0:
        note = "attribution drift is off (monitoring.drift.attribution_rows: 0)"
        return Attribution(rows, windows, None, app_spec, note=note)
    if reference is None or reference.height == 0:
        note = "attribution drift needs reference data ('reference:' in the spec)"
        return Attribution(rows, windows, None, app_spec, note=note)
    features = list(model.metadata.feature_names)
    try:
        method = model.contributions(reference.head(1).select(features)).method
    except DoorstepError as exc:
        note = f"the {model.metadata.kind} model cannot be explained: {exc.message}"
        return Attribution(rows, windows, None, app_spec, note=note)
    if method == "permutation":
        note = (
            f"no attribution drift: the {model.metadata.kind} model has no exact explainer (the "
            "permutation fallback costs thousands of predictions a row)"
        )
        return Attribution(rows, windows, None, app_spec, method=method, note=note)
    return Attribution(rows, windows, model, app_spec, method=method)


def explain_frame(model: Model, frame: pl.DataFrame) -> pl.DataFrame:
    """|contribution| of each of ``model``'s features for each row of ``frame`` (summed over the
    classes of a multiclass model), as :func:`contribution_columns`."""
    features = list(model.metadata.feature_names)
    columns = contribution_columns(features)
    if frame.height == 0:
        return pl.DataFrame(schema={c: pl.Float64 for c in columns.values()})
    found = model.contributions(frame.select(features))
    magnitude: npt.NDArray[np.float64] = np.abs(found.values).sum(axis=1)
    position = {name: i for i, name in enumerate(found.feature_names)}
    return pl.DataFrame({columns[f]: magnitude[:, position[f]] for f in features})


def reference_sample(reference: pl.DataFrame, rows: int) -> npt.NDArray[np.int64]:
    """Positions of a seeded uniform sample of at most ``rows`` reference rows, in order."""
    if reference.height <= rows:
        return np.arange(reference.height, dtype=np.int64)
    chosen = np.random.default_rng(SEED).choice(reference.height, size=rows, replace=False)
    return np.sort(chosen).astype(np.int64)


def explain_stored(attribution: Attribution, inputs: Sequence[str]) -> pl.DataFrame:
    """Contributions of stored decisions from their inputs' JSON text, typed by the spec's input
    contract exactly as the decisions were (a row that no longer passes it is left out)."""
    assert attribution.model is not None
    spec = attribution.spec
    id_field = spec.inputs.id
    records = []
    for i, text in enumerate(inputs):
        record = json.loads(text)
        record[id_field] = str(i)
        records.append(record)
    checked = validate_batch(frame_from_records(records, spec.inputs), spec.inputs)
    return explain_frame(attribution.model, checked.valid)


def _key(identifier: str) -> int:
    return int.from_bytes(hashlib.blake2b(identifier.encode(), digest_size=8).digest(), "big")


@dataclass
class HashSample:
    """The ``size`` rows of a stream whose ids hash lowest: a uniform sample, the same whatever
    the order and batching of the stream, holding at most ``size`` rows at any time."""

    size: int
    keys: npt.NDArray[np.uint64] = field(default_factory=lambda: np.empty(0, dtype=np.uint64))
    values: list[str] = field(default_factory=list)

    def add(self, ids: Sequence[str], values: Sequence[str]) -> None:
        if self.size == 0 or not ids:
            return
        keys = np.fromiter((_key(i) for i in ids), dtype=np.uint64, count=len(ids))
        keys = np.concatenate([self.keys, keys])
        pool = [*self.values, *values]
        if keys.size > self.size:
            keep = np.argpartition(keys, self.size - 1)[: self.size]
            keys = keys[keep]
            pool = [pool[i] for i in keep]
        self.keys, self.values = keys, pool

    def rows(self) -> list[str]:
        """The sample, lowest hash first."""
        return [self.values[i] for i in np.argsort(self.keys, kind="stable")]


def attribution_section(
    attribution: Attribution | None, profile: ReferenceProfile, explaining: bool, notes: list[str]
) -> AttributionSetup:
    """How attribution drift was measured, or why it was not."""
    if attribution is None:
        note = (
            "attribution drift needs the app's model: pass the profile of ProfileCache.get or "
            "reference_profile"
            if profile.contribution_columns
            else "the reference profile has no contributions"
        )
        return AttributionSetup(rows=0, windows=0, method=None, note=note)
    setup = attribution.describe()
    if attribution.enabled and not explaining:
        setup = replace(setup, rows=0, note="the reference profile has no contributions")
    if notes:
        setup = replace(setup, note="; ".join(notes))
    return replace(
        setup,
        reference_rows=min(
            attribution.rows if explaining else 0,
            max((ref.rows for ref in profile.features.values()), default=0),
        ),
    )
