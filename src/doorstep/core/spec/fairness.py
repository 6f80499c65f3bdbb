"""The spec's ``monitoring.fairness``: how decisions are grouped by sensitive attributes.

An input field marked ``sensitive: true`` (sex, age, region; it may be ``feature: false``, an
input kept only for this) is an attribute decisions can be grouped by. A numeric attribute is
grouped by **bands** declared here (``age_band: {field: age, edges: [25, 35, 50, 65]}``), each
band holding its lower edge: ``<25``, ``25-35``, ..., ``>=65``. Pure models and checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from doorstep.core.spec.alerts import QualityThresholdSpec
from doorstep.core.suggest import did_you_mean

if TYPE_CHECKING:
    from doorstep.core.spec.loader import SpecDocument
    from doorstep.errors import SpecIssue

__all__ = [
    "DEFAULT_MIN_GROUP",
    "FAIRNESS_LOWER_IS_WORSE",
    "BandSpec",
    "FairnessAlertSpec",
    "FairnessSpec",
    "fairness_issues",
]

FAIRNESS_LOWER_IS_WORSE = ("demographic_parity_ratio",)
"""Fairness statistics where lower is worse; for the others (differences) higher is worse."""

DEFAULT_MIN_GROUP = 30
"""Decisions a group needs before its rates are reported (outcomes: positives for the true
positive rate, negatives for the false positive rate, labelled decisions for calibration)."""


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, use_attribute_docstrings=True
    )


class BandSpec(_Strict):
    """Bands of a numeric sensitive field, e.g. ``{field: age, edges: [25, 35, 50, 65]}``."""

    field: str
    """The input field (``int`` or ``float``, marked ``sensitive: true``) that is banded."""
    edges: Annotated[list[float], Field(min_length=1)]
    """Band edges in increasing order; each band holds its lower edge: ``[25, 35]`` makes
    ``<25``, ``25-35`` and ``>=35``."""

    @model_validator(mode="after")
    def _increasing(self) -> BandSpec:
        if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ValueError(f"'edges' must increase strictly, got {self.edges}")
        return self


class FairnessAlertSpec(_Strict):
    """Thresholds of fairness between groups, judged on each monitored window like quality:
    each sensitive attribute of ``monitoring.fairness`` is its own subject."""

    demographic_parity_difference: QualityThresholdSpec | None = None
    """Highest minus lowest selection rate, higher is worse, e.g. ``{warn: 0.1, alert: 0.2}``."""
    demographic_parity_ratio: QualityThresholdSpec | None = None
    """Lowest over highest selection rate, lower is worse, e.g. ``{warn: 0.8, alert: 0.6}``
    (the "four-fifths rule" at 0.8)."""
    equalized_odds_difference: QualityThresholdSpec | None = None
    """The larger of the true- and false-positive-rate differences, higher is worse."""

    def thresholds(self) -> dict[str, QualityThresholdSpec]:
        """The statistics given, by name."""
        names = ("demographic_parity_difference", "demographic_parity_ratio",
                 "equalized_odds_difference")  # fmt: skip
        return {n: t for n in names if (t := getattr(self, n)) is not None}

    @model_validator(mode="after")
    def _ordered(self) -> FairnessAlertSpec:
        for name, given in self.thresholds().items():
            if given.warn is None or given.alert is None:
                continue
            lower = name in FAIRNESS_LOWER_IS_WORSE
            if (lower and given.warn < given.alert) or (not lower and given.warn > given.alert):
                side = "lower" if lower else "higher"
                order = "at or above" if lower else "at or below"
                raise ValueError(
                    f"{name}: {side} is worse, so 'warn' ({given.warn}) must be {order} "
                    f"'alert' ({given.alert})"
                )
        return self


class FairnessSpec(_Strict):
    """Grouping of decisions for ``doorstep fairness`` (see docs/fairness.md)."""

    min_group: Annotated[int, Field(ge=1)] = DEFAULT_MIN_GROUP
    """Decisions a group needs before its rates are reported; below it a group is "too few"
    and stays out of the differences and ratios between groups."""
    bands: dict[str, BandSpec] = {}
    """Named bands of numeric sensitive fields, usable with ``--by NAME``, e.g.
    ``age_band: {field: age, edges: [25, 35, 50, 65]}``."""
    alerts: FairnessAlertSpec | None = None
    """Thresholds that raise alerts through ``monitoring.alerts`` (its connectors, level and
    schedule), one subject per attribute and statistic: ``fairness.<attribute>.<statistic>``."""


def fairness_issues(doc: SpecDocument) -> list[SpecIssue]:
    """Bands against the input fields: the field exists, is numeric and sensitive, and the
    band's name is not a field's."""
    spec = doc.spec
    fields = spec.inputs.fields
    issues: list[SpecIssue] = []
    fairness = spec.monitoring.fairness
    if fairness.alerts is not None and spec.monitoring.alerts is None:
        issues.append(
            doc.issue(
                ("monitoring", "fairness", "alerts"),
                "fairness alerts go through monitoring.alerts: add it (its connectors get them)",
            )
        )
    if fairness.alerts is not None and not spec.sensitive_fields:
        issues.append(
            doc.issue(
                ("monitoring", "fairness", "alerts"),
                "no input is marked sensitive: add 'sensitive: true' to the fields to group by",
            )
        )
    if (
        fairness.alerts is not None
        and fairness.alerts.equalized_odds_difference is not None
        and spec.model.task != "binary"
    ):
        issues.append(
            doc.issue(
                ("monitoring", "fairness", "alerts", "equalized_odds_difference"),
                f"needs binary outcomes, not a {spec.model.task} model's",
            )
        )
    for name, band in fairness.bands.items():
        at = ("monitoring", "fairness", "bands", name)
        field = fields.get(band.field)
        if name in fields:
            issues.append(
                doc.issue(at, f"{name!r} is already an input field; give the bands another name")
            )
        if field is None:
            issues.append(
                doc.issue(
                    (*at, "field"),
                    f"unknown input field {band.field!r}" + did_you_mean(band.field, list(fields)),
                )
            )
        elif field.type not in ("int", "float"):
            issues.append(
                doc.issue(
                    (*at, "field"),
                    f"{band.field!r} is of type {field.type!r}; bands apply to int and float "
                    "fields (group a category by its values: no bands needed)",
                )
            )
        elif not field.sensitive:
            issues.append(
                doc.issue(
                    (*at, "field"),
                    f"{band.field!r} is not marked sensitive: add 'sensitive: true' to "
                    f"inputs.fields.{band.field}",
                )
            )
    return issues
