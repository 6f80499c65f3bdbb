"""What a drift comparison returns, and the thresholds that judge it.

Every column (feature or score) gets a :class:`ColumnDrift`, every feature's attributions an
:class:`AttributionDrift`, and the window a :class:`DriftReport`; statuses come from the
effect-size thresholds of :class:`DriftThresholds` (docs/monitoring.md says why these values).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal, TypeAlias, TypeVar

from doorstep.core.stats.intervals import Interval

__all__ = [
    "DEFAULT_THRESHOLDS",
    "AttributionDrift",
    "Check",
    "ColumnDrift",
    "DriftReport",
    "DriftThresholds",
    "FeatureKind",
    "Level",
    "RANK",
    "ReconstructionDrift",
    "Status",
    "Threshold",
    "worst_status",
]

FeatureKind: TypeAlias = Literal["numeric", "categorical"]
Level: TypeAlias = Literal["ok", "warn", "alert"]
Status: TypeAlias = Literal["ok", "warn", "alert", "insufficient_data"]
RANK: Mapping[str, int] = {"ok": 0, "warn": 1, "alert": 2}
"""The order of the measured statuses; ``insufficient_data`` has no rank (see
:func:`worst_status`)."""


def worst_status(statuses: Iterable[Status]) -> Status:
    """The one status of several parts (features of a window, windows of a range, subjects of
    an alert run): the worst *measured* one, ``alert`` over ``warn`` over ``ok``.

    A part with too few rows (``insufficient_data``) was not measured: it neither passes for
    ``ok`` nor hides a ``warn`` or ``alert`` measured beside it. When no part was measured (every
    one is ``insufficient_data``, or there are none) the result is ``insufficient_data``, never
    ``ok``. Readers show how many parts were not measured beside the result."""
    worst: Status = "insufficient_data"
    for status in statuses:
        if status in RANK and (worst == "insufficient_data" or RANK[status] > RANK[worst]):
            worst = status
    return worst


@dataclass(frozen=True)
class Threshold:
    """A statistic at or above ``warn`` warns, at or above ``alert`` alerts."""

    warn: float
    alert: float

    def __post_init__(self) -> None:
        if not 0 <= self.warn <= self.alert:
            raise ValueError(f"threshold: need 0 <= warn <= alert, got {self.warn}, {self.alert}")

    def level(self, value: float | None) -> Level:
        if value is None or math.isnan(value):
            return "ok"
        return "alert" if value >= self.alert else "warn" if value >= self.warn else "ok"

    def limit(self, level: Literal["warn", "alert"]) -> float:
        """The value at which ``level`` starts."""
        return self.warn if level == "warn" else self.alert


@dataclass(frozen=True)
class DriftThresholds:
    """Effect-size thresholds of the statuses (docs/monitoring.md says why these)."""

    psi: Threshold = Threshold(0.1, 0.25)
    js_distance: Threshold = Threshold(0.1, 0.2)
    wasserstein_norm: Threshold = Threshold(0.1, 0.2)
    missing_rate_increase: Threshold = Threshold(0.05, 0.2)
    out_of_range_rate: Threshold = Threshold(0.01, 0.05)
    unseen_rate: Threshold = Threshold(0.01, 0.05)
    attribution_share_change: Threshold = Threshold(0.05, 0.1)
    reconstruction_increase: Threshold = Threshold(0.05, 0.1)
    """Multivariate drift: the rise of the mean PCA reconstruction error over the reference's
    (:mod:`doorstep.core.stats.reconstruction`)."""
    min_rows: int = 1000
    """Drift statuses need this many present values in both window and reference: below it
    sampling noise alone can cross the thresholds (quality rates are checked at any size)."""

    def levels(self) -> dict[str, Threshold]:
        """Every statistic's threshold, by name, in declaration order."""
        return {
            f.name: value
            for f in fields(self)
            if isinstance(value := getattr(self, f.name), Threshold)
        }

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"psi": {"warn": 0.1, "alert": 0.25}, ..., "min_rows": 1000}``."""
        out: dict[str, Any] = {
            name: {"warn": t.warn, "alert": t.alert} for name, t in self.levels().items()
        }
        out["min_rows"] = self.min_rows
        return out


DEFAULT_THRESHOLDS = DriftThresholds()


@dataclass(frozen=True)
class Check:
    """One statistic that crossed its threshold."""

    statistic: str
    value: float
    threshold: float
    level: Level

    def __str__(self) -> str:
        return f"{self.statistic} {self.value:.4g} >= {self.threshold:g} ({self.level})"


@dataclass(frozen=True)
class ColumnDrift:
    """Quality and drift of one column (a feature or the score) in a window.

    A statistic is ``None`` where it does not apply (KS for a categorical feature) or cannot
    be computed (no present value on one side)."""

    name: str
    kind: FeatureKind
    rows: int
    reference_rows: int
    missing_rate: float | None
    reference_missing_rate: float | None
    out_of_range_rate: float | None = None
    unseen_rate: float | None = None
    psi: float | None = None
    js_distance: float | None = None
    ks_statistic: float | None = None
    ks_pvalue: float | None = None
    chi2_statistic: float | None = None
    chi2_pvalue: float | None = None
    wasserstein: float | None = None
    wasserstein_norm: float | None = None
    status: Status = "ok"
    checks: tuple[Check, ...] = ()


@dataclass(frozen=True)
class AttributionDrift:
    """A feature's mean |contribution| and its share of the total, reference vs window."""

    feature: str
    reference_mean_abs: float
    mean_abs: float | None
    reference_share: float
    share: float | None
    share_change: float | None
    status: Status = "ok"
    checks: tuple[Check, ...] = ()


@dataclass(frozen=True)
class DriftReport:
    """Everything measured on one window."""

    rows: int
    features: tuple[ColumnDrift, ...]
    score: ColumnDrift | None = None
    attributions: tuple[AttributionDrift, ...] = ()
    attribution_shift: float | None = None
    """Total variation distance of the attribution shares: half the sum of |share changes|."""
    status: Status = "ok"

    def feature(self, name: str) -> ColumnDrift:
        for column in self.features:
            if column.name == name:
                return column
        raise KeyError(name)

    def flagged(self, level: Level = "warn") -> list[str]:
        """Names of the features at ``level`` or worse."""
        return [c.name for c in self.features if RANK.get(c.status, -1) >= RANK[level]]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict: non-finite numbers (an infinite chi-square) become ``None``."""
        out: dict[str, Any] = _json_safe(asdict(self))
        return out

    def finite(self) -> DriftReport:
        """The report as its JSON reads: every non-finite statistic (an infinite chi-square)
        ``None``."""
        return replace(
            self,
            features=tuple(_finite(c) for c in self.features),
            score=None if self.score is None else _finite(self.score),
            attributions=tuple(_finite(a) for a in self.attributions),
            attribution_shift=_finite_number(self.attribution_shift),
        )


_Item = TypeVar("_Item", ColumnDrift, AttributionDrift)


def _finite(item: _Item) -> _Item:
    # only statistics are floats; those that may be missing are typed ``float | None``
    changes: dict[str, Any] = {
        f.name: None
        for f in fields(item)
        if isinstance(value := getattr(item, f.name), float) and not math.isfinite(value)
    }
    return replace(item, **changes) if changes else item


def _finite_number(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class ReconstructionDrift:
    """One window's multivariate drift."""

    rows: int
    components: int
    reference_error: float
    error: Interval
    """The window's mean reconstruction error with its interval."""
    increase: float | None
    """``error / reference_error - 1``."""
    status: Status

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "pca_reconstruction",
            "rows": self.rows,
            "components": self.components,
            "reference_error": self.reference_error,
            "error": self.error.as_dict(),
            "increase": self.increase,
            "status": self.status,
        }
