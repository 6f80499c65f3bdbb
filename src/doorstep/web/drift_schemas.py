"""Pydantic models that document the ``drift`` section of ``GET /v1/apps/{app}/monitoring`` in
OpenAPI (the section is :class:`doorstep.types.DriftSection` as JSON; docs/monitoring.md,
"Drift in the report", says what each key means)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

__all__ = ["DriftOut"]

StatusOut = Literal["ok", "warn", "alert", "insufficient_data"]


class CheckOut(BaseModel):
    """A statistic that crossed its threshold."""

    statistic: str
    value: float | None
    threshold: float
    level: Literal["warn", "alert"]


class ColumnDriftOut(BaseModel):
    """A feature (or the score) compared with the reference: every statistic, ``null`` where
    it does not apply or could not be computed."""

    name: str
    kind: Literal["numeric", "categorical"]
    rows: int
    reference_rows: int
    missing_rate: float | None
    reference_missing_rate: float | None
    out_of_range_rate: float | None
    unseen_rate: float | None
    psi: float | None
    js_distance: float | None
    ks_statistic: float | None
    ks_pvalue: float | None
    chi2_statistic: float | None
    chi2_pvalue: float | None
    wasserstein: float | None
    wasserstein_norm: float | None
    status: StatusOut
    checks: list[CheckOut]


class AttributionDriftOut(BaseModel):
    """A feature's mean |contribution| and its share of the total, reference against window."""

    feature: str
    reference_mean_abs: float
    mean_abs: float | None
    reference_share: float
    share: float | None
    share_change: float | None
    status: StatusOut
    checks: list[CheckOut]


class DriftReportOut(BaseModel):
    """The whole comparison of one window."""

    rows: int
    features: list[ColumnDriftOut]
    score: ColumnDriftOut | None
    attributions: list[AttributionDriftOut]
    attribution_shift: float | None
    status: StatusOut


class ColumnSummaryOut(BaseModel):
    """What each window keeps of a column."""

    status: StatusOut
    psi: float | None
    js_distance: float | None
    wasserstein_norm: float | None
    missing_rate: float | None
    out_of_range_rate: float | None
    unseen_rate: float | None


class AttributionShareOut(BaseModel):
    reference_share: float
    share: float | None
    share_change: float | None
    status: StatusOut


class AttributionSummaryOut(BaseModel):
    """Each feature's share of the model's attention in an explained window."""

    status: StatusOut
    shift: float | None
    """Attribution shift: half the sum of the absolute share changes."""
    flagged: list[str]
    features: dict[str, AttributionShareOut]


class ErrorOut(BaseModel):
    value: float | None
    low: float | None
    high: float | None


class MultivariateOut(BaseModel):
    """Multivariate drift of a window: the PCA reconstruction error against the reference's."""

    method: Literal["pca_reconstruction"]
    rows: int
    components: int
    reference_error: float
    error: ErrorOut
    """The window's mean reconstruction error with its 95% interval."""
    increase: float | None
    """``error / reference_error - 1``."""
    status: StatusOut


class DriftWindowOut(BaseModel):
    """One window; ``score`` and ``features`` only when it has decisions."""

    start: str
    end: str
    rows: int
    status: StatusOut
    flagged: list[str]
    """Features at warn or worse."""
    alerted: list[str]
    score: ColumnSummaryOut | None = None
    features: dict[str, ColumnSummaryOut] | None = None
    attribution: AttributionSummaryOut | None
    """``null`` in windows not explained."""
    multivariate: MultivariateOut | None = None
    """``null`` when the reference has fewer than two inputs to rebuild from."""


class LatestWindowOut(DriftWindowOut):
    """The latest window with decisions, with its whole comparison."""

    report: DriftReportOut


class ThresholdOut(BaseModel):
    warn: float
    alert: float


class DriftThresholdsOut(BaseModel):
    psi: ThresholdOut
    js_distance: ThresholdOut
    wasserstein_norm: ThresholdOut
    missing_rate_increase: ThresholdOut
    out_of_range_rate: ThresholdOut
    unseen_rate: ThresholdOut
    attribution_share_change: ThresholdOut
    reconstruction_increase: ThresholdOut
    """Multivariate drift: rise of the mean PCA reconstruction error."""
    min_rows: int
    """Present values a window needs before drift sets a status."""


class AttributionSetupOut(BaseModel):
    """How attribution drift was measured, or a ``note`` saying why it was not."""

    rows: int
    """Decisions explained per window (0: none)."""
    windows: int
    method: str | None
    note: str | None
    reference_rows: int | None = None


class DriftOut(BaseModel):
    """Per-feature and score drift of each window against the reference data."""

    features: dict[str, Literal["numeric", "categorical"]]
    reference_rows: int
    thresholds: DriftThresholdsOut
    status: StatusOut
    """The worst status of the windows measured; ``insufficient_data`` when none was."""
    attribution: AttributionSetupOut
    windows: list[DriftWindowOut]
    latest: LatestWindowOut | None
