"""The reference profile: what drift is measured against, built once per model version.

Per numeric column the whole reference distribution as distinct sorted values and their counts
(exact Kolmogorov-Smirnov and Wasserstein against any window; a 1,000,000-row float column is
8 MB of values, an integer column a few hundred bytes), the PSI bin edges (reference
quantiles), mean, standard deviation and the range that counts as in range; per categorical
column each category's count; per feature the mean |contribution| (attribution drift).

Data arrives as a polars or Arrow frame or as an iterator of batches, so a reference too large
for memory streams through; :meth:`ReferenceProfile.to_bytes` writes the profile as one Arrow
IPC stream to store with the model version.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from doorstep.core.stats.calibration import ScoreCalibration
from doorstep.core.stats.kernels import (
    Ecdf,
    FloatArray,
    IntArray,
    ecdf_from_counts,
    ecdf_from_sorted,
    quantiles,
)
from doorstep.core.stats.loss_estimate import LossModel
from doorstep.core.stats.reconstruction import ReconstructionModel
from doorstep.core.stats.reference_thresholds import ReferenceLabels
from doorstep.core.stats.tally import (
    CategoricalTally,
    Data,
    FeatureKind,
    MeanAbsTally,
    NumericTally,
    iter_batches,
    kind_of,
    run_all,
)
from doorstep.errors import InputError

__all__ = [
    "CategoricalReference",
    "Data",
    "FeatureKind",
    "NumericReference",
    "ReferenceProfile",
    "build_profile",
]

FORMAT = "doorstep.drift-profile"
FORMAT_VERSION = 1
DISCRETE_MAX_VALUES = 20
"""A numeric column with at most this many distinct reference values is compared value by
value (PSI and Jensen-Shannon over values), as Evidently does; above, over bins."""


@dataclass(frozen=True, eq=False)
class NumericReference:
    """Reference distribution of one numeric column (non-finite values count as missing)."""

    name: str
    rows: int
    missing: int
    distribution: Ecdf
    psi_edges: FloatArray
    """Interior PSI bin edges: bins are ``(-inf, e0], (e0, e1], …, (e_last, inf)``."""
    mean: float | None
    std: float | None
    """Population standard deviation (``np.std``, ``ddof=0``)."""
    low: float | None
    high: float | None
    """Values outside ``[low, high]`` are out of range (declared bounds, else min and max)."""
    kind: FeatureKind = field(default="numeric", init=False)

    @property
    def present(self) -> int:
        return self.rows - self.missing

    @property
    def discrete(self) -> bool:
        return 0 < self.distribution.values.size <= DISCRETE_MAX_VALUES


@dataclass(frozen=True, eq=False)
class CategoricalReference:
    """Reference counts of one categorical column (values compared as strings)."""

    name: str
    rows: int
    missing: int
    categories: tuple[str, ...]
    counts: IntArray
    kind: FeatureKind = field(default="categorical", init=False)

    @property
    def present(self) -> int:
        return self.rows - self.missing


ColumnReference: TypeAlias = NumericReference | CategoricalReference


@dataclass(frozen=True, eq=False)
class ReferenceProfile:
    """Everything drift is measured against, for one model version."""

    features: Mapping[str, ColumnReference]
    score: NumericReference | None = None
    attributions: Mapping[str, float] = field(default_factory=dict)
    """Mean |contribution| per feature in the reference."""
    contribution_columns: Mapping[str, str] = field(default_factory=dict)
    """Feature -> the column holding its contribution, in reference and windows alike."""
    psi_bins: int = 10
    calibration: ScoreCalibration | None = None
    """The map from score to probability fitted on the reference labels (estimated quality)."""
    calibration_note: str | None = None
    """Why there is no ``calibration`` (quality cannot be estimated), for people."""
    reconstruction: ReconstructionModel | None = None
    """The PCA fitted on the reference inputs (multivariate drift)."""
    labels: ReferenceLabels | None = None
    """The reference's scores beside its outcomes, kept when the spec derives quality
    thresholds from the reference."""
    loss: LossModel | None = None
    """The loss regressors fitted on the reference outcomes (regression quality estimated)."""

    def to_arrow(self) -> pa.Table:
        """One row per column (``role`` feature or score); settings and attributions in the
        schema metadata."""
        rows = [("feature", ref) for ref in self.features.values()]
        if self.score is not None:
            rows.append(("score", self.score))
        scalars: dict[str, list[object]] = {
            k: [] for k in ("role", "name", "kind", "rows", "missing", "mean", "std", "low", "high")
        }
        lists: dict[str, list[object]] = {
            k: [] for k in ("values", "counts", "categories", "edges")
        }
        for role, ref in rows:
            scalars["role"].append(role)
            scalars["name"].append(ref.name)
            scalars["kind"].append(ref.kind)
            scalars["rows"].append(ref.rows)
            scalars["missing"].append(ref.missing)
            if isinstance(ref, NumericReference):
                counts = ref.distribution.counts
                lists["values"].append(ref.distribution.values)
                lists["counts"].append(None if np.all(counts == 1) else counts)
                lists["categories"].append(None)
                lists["edges"].append(ref.psi_edges)
                for key in ("mean", "std", "low", "high"):
                    scalars[key].append(getattr(ref, key))
            else:
                lists["values"].append(None)
                lists["counts"].append(ref.counts)
                lists["categories"].append(list(ref.categories))
                lists["edges"].append(None)
                for key in ("mean", "std", "low", "high"):
                    scalars[key].append(None)
        meta: dict[str, Any] = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "psi_bins": self.psi_bins,
            "attributions": dict(self.attributions),
            "contribution_columns": dict(self.contribution_columns),
        }
        if self.calibration is not None:
            meta["calibration"] = self.calibration.to_dict()
        if self.calibration_note is not None:
            meta["calibration_note"] = self.calibration_note
        if self.reconstruction is not None:
            meta["reconstruction"] = self.reconstruction.to_dict()
        if self.labels is not None:
            meta["labels"] = self.labels.to_dict()
        if self.loss is not None:
            meta["loss"] = self.loss.to_dict()
        schema = _ARROW_SCHEMA.with_metadata({"doorstep": json.dumps(meta)})
        arrays = []
        for column in schema:
            if column.name in lists:
                arrays.append(_list_array(lists[column.name], column.type))
            else:
                arrays.append(pa.array(scalars[column.name], column.type))
        return pa.Table.from_arrays(arrays, schema=schema)

    def to_bytes(self) -> bytes:
        """The profile as an Arrow IPC stream (see :meth:`from_bytes`)."""
        sink = pa.BufferOutputStream()
        table = self.to_arrow()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return bytes(sink.getvalue().to_pybytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> ReferenceProfile:
        try:
            table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
        except pa.ArrowInvalid as exc:
            raise InputError(f"drift profile: not an Arrow IPC stream ({exc})") from exc
        return cls.from_arrow(table)

    @classmethod
    def from_arrow(cls, table: pa.Table) -> ReferenceProfile:
        raw = (table.schema.metadata or {}).get(b"doorstep")
        meta = json.loads(raw) if raw else {}
        if meta.get("format") != FORMAT or meta.get("version") != FORMAT_VERSION:
            raise InputError(
                f"drift profile: expected format {FORMAT!r} version {FORMAT_VERSION}, got "
                f"{meta.get('format')!r} version {meta.get('version')!r}; rebuild the profile "
                "from the reference data"
            )
        table = table.combine_chunks()
        scalars = table.drop_columns(list(_LIST_COLUMNS)).to_pylist()
        features: dict[str, ColumnReference] = {}
        score: NumericReference | None = None
        for i, row in enumerate(scalars):
            ref: ColumnReference
            counts_list = table.column("counts").chunk(0)[i]
            if row["kind"] == "numeric":
                values = _numpy(table.column("values").chunk(0)[i], np.float64)
                counts = (
                    np.ones(values.size, dtype=np.int64)
                    if not counts_list.is_valid
                    else _numpy(counts_list, np.int64)
                )
                ref = NumericReference(
                    row["name"],
                    row["rows"],
                    row["missing"],
                    ecdf_from_counts(values, counts),
                    _numpy(table.column("edges").chunk(0)[i], np.float64),
                    row["mean"],
                    row["std"],
                    row["low"],
                    row["high"],
                )
            else:
                ref = CategoricalReference(
                    row["name"],
                    row["rows"],
                    row["missing"],
                    tuple(table.column("categories").chunk(0)[i].as_py()),
                    _numpy(counts_list, np.int64),
                )
            if row["role"] == "score" and isinstance(ref, NumericReference):
                score = ref
            else:
                features[ref.name] = ref
        return cls(
            features,
            score,
            {k: float(v) for k, v in meta["attributions"].items()},
            dict(meta["contribution_columns"]),
            int(meta["psi_bins"]),
            ScoreCalibration.from_dict(meta["calibration"]) if "calibration" in meta else None,
            meta.get("calibration_note"),
            ReconstructionModel.from_dict(meta["reconstruction"])
            if "reconstruction" in meta
            else None,
            ReferenceLabels.from_dict(meta["labels"]) if "labels" in meta else None,
            LossModel.from_dict(meta["loss"]) if "loss" in meta else None,
        )


def _list_array(items: list[object], type_: pa.DataType) -> pa.Array:
    """A list array from per-row numpy arrays or lists (``None`` for a null row), built from
    one flat buffer rather than element by element."""
    valid = [item is not None for item in items]
    sizes = [0 if item is None else len(item) for item in items]  # type: ignore[arg-type]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
    parts = [item for item in items if item is not None]
    if pa.types.is_string(type_.value_type):
        flat = pa.array([v for part in parts for v in part], type_.value_type)  # type: ignore[attr-defined]
    elif parts:
        flat = pa.array(np.concatenate([np.asarray(p) for p in parts]), type_.value_type)
    else:
        flat = pa.array([], type_.value_type)
    mask = pa.array([not v for v in valid])
    return pa.ListArray.from_arrays(pa.array(offsets), flat, type=type_, mask=mask)


def _numpy(scalar: pa.ListScalar, dtype: type[np.generic]) -> npt.NDArray[Any]:
    values = scalar.values
    if values is None:
        return np.empty(0, dtype=dtype)
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=dtype)


_LIST_COLUMNS = ("values", "counts", "categories", "edges")
_ARROW_SCHEMA = pa.schema(
    [
        ("role", pa.string()),
        ("name", pa.string()),
        ("kind", pa.string()),
        ("rows", pa.int64()),
        ("missing", pa.int64()),
        ("values", pa.list_(pa.float64())),
        ("counts", pa.list_(pa.int64())),
        ("categories", pa.list_(pa.string())),
        ("edges", pa.list_(pa.float64())),
        ("mean", pa.float64()),
        ("std", pa.float64()),
        ("low", pa.float64()),
        ("high", pa.float64()),
    ]
)


# --- building a profile -----------------------------------------------------------------------


def build_profile(
    data: Data,
    *,
    features: Sequence[str] | Mapping[str, FeatureKind] | None = None,
    score: str | None = None,
    contributions: Mapping[str, str] | None = None,
    ranges: Mapping[str, tuple[float | None, float | None]] | None = None,
    psi_bins: int = 10,
    threads: int | None = None,
) -> ReferenceProfile:
    """Profile reference ``data`` in one pass.

    ``features`` names the input columns (their kind read from the dtype) or maps each to
    ``"numeric"`` or ``"categorical"``; by default every column but ``score`` and the
    ``contributions`` columns. ``contributions`` maps a feature to the column of its
    contribution (SHAP) values. ``ranges`` gives declared ``(min, max)`` bounds per numeric
    feature (either may be ``None``); without one, the reference minimum and maximum bound the
    range. Columns are summarised on ``threads`` threads (default: one per core).
    """
    if psi_bins < 2:
        raise InputError(f"drift profile: psi_bins must be at least 2, got {psi_bins}")
    batches = _reference_batches(data, features, score, contributions or {})
    try:
        first, kinds = next(batches)
    except StopIteration:
        raise InputError("drift profile: the reference data has no batches") from None
    numeric = {n: NumericTally(n) for n, k in kinds.items() if k == "numeric"}
    categorical = {n: CategoricalTally(n) for n, k in kinds.items() if k == "categorical"}
    score_tally = NumericTally(score) if score else None
    contrib = {f: MeanAbsTally() for f in contributions or {}}
    for frame in _chain(first, batches):
        for name, tally in numeric.items():
            tally.add(frame[name])
        for name, cat in categorical.items():
            cat.add(frame[name])
        if score_tally is not None:
            score_tally.add(frame[score_tally.name])
        for feature, column in (contributions or {}).items():
            contrib[feature].add(frame[column])
    jobs: list[Callable[[], ColumnReference]] = [
        partial(numeric_reference, numeric[name], psi_bins, (ranges or {}).get(name))
        if name in numeric
        else partial(categorical_reference, categorical[name])
        for name in kinds
    ]
    if score_tally is not None:
        jobs.append(partial(numeric_reference, score_tally, psi_bins, None))
    done = run_all(jobs, threads)
    score_ref = done.pop() if score_tally is not None else None
    return ReferenceProfile(
        {ref.name: ref for ref in done},
        score_ref if isinstance(score_ref, NumericReference) else None,
        {f: m for f, t in contrib.items() if (m := t.mean) is not None},
        dict(contributions or {}),
        psi_bins,
    )


def _chain(
    first: pl.DataFrame, rest: Iterator[tuple[pl.DataFrame, dict[str, FeatureKind]]]
) -> Iterator[pl.DataFrame]:
    yield first
    for frame, _ in rest:
        yield frame


def _reference_batches(
    data: Data,
    features: Sequence[str] | Mapping[str, FeatureKind] | None,
    score: str | None,
    contributions: Mapping[str, str],
) -> Iterator[tuple[pl.DataFrame, dict[str, FeatureKind]]]:
    """Batches of the reference with the kind of each feature (from the first batch)."""
    if isinstance(data, pl.LazyFrame):
        names = data.collect_schema().names()
    elif isinstance(data, pl.DataFrame | pa.Table | pa.RecordBatch):
        names = list(data.schema.names) if not isinstance(data, pl.DataFrame) else data.columns
    else:
        names = []
        if features is None:
            raise InputError("drift profile: name the features when the data is an iterator")
    extra = [c for c in [score, *contributions.values()] if c]
    if features is None:
        chosen: list[str] = [c for c in names if c not in extra]
    else:
        chosen = list(features)
    declared = dict(features) if isinstance(features, Mapping) else {}
    for name, kind in declared.items():
        if kind not in ("numeric", "categorical"):
            raise InputError(
                f"drift profile: feature {name!r} has kind {kind!r}; "
                "expected 'numeric' or 'categorical'"
            )
    kinds: dict[str, FeatureKind] = {}
    for frame in iter_batches(data, list(dict.fromkeys([*chosen, *extra]))):
        if not kinds:
            kinds = {n: declared.get(n) or kind_of(frame.schema[n]) for n in chosen}
        yield frame, kinds


def numeric_reference(
    tally: NumericTally, psi_bins: int, bounds: tuple[float | None, float | None] | None
) -> NumericReference:
    values = tally.sorted_values()
    dist = ecdf_from_sorted(values)
    mean = std = None
    edges = np.empty(0, dtype=np.float64)
    if dist.n and dist.n == dist.values.size:  # no ties: the values themselves
        mean, std = float(np.mean(values)), float(np.std(values))
    elif dist.n:
        weights = dist.counts.astype(np.float64)
        mean = float(np.dot(dist.values, weights) / dist.n)
        std = float(np.sqrt(np.dot((dist.values - mean) ** 2, weights) / dist.n))
    if dist.n:
        qs = np.arange(1, psi_bins, dtype=np.float64) / psi_bins
        edges = np.unique(quantiles(dist, qs))
    low, high = bounds if bounds is not None else (None, None)
    if low is None and dist.n:
        low = float(dist.values[0])
    if high is None and dist.n:
        high = float(dist.values[-1])
    return NumericReference(
        tally.name, tally.rows, tally.missing, dist, edges, mean, std, low, high
    )


def categorical_reference(tally: CategoricalTally) -> CategoricalReference:
    ordered = sorted(tally.counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return CategoricalReference(
        tally.name,
        tally.rows,
        tally.missing,
        tuple(k for k, _ in ordered),
        np.asarray([v for _, v in ordered], dtype=np.int64),
    )
