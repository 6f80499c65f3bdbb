"""The spec's ``monitoring.fairness``: how decisions are grouped by sensitive attributes.

An input field marked ``sensitive: true`` (sex, age, region; it may be ``feature: false``, an
input kept only for this) is an attribute decisions can be grouped by. A numeric attribute is
grouped by **bands** declared here (``age_band: {field: age, edges: [25, 35, 50, 65]}``), each
band holding its lower edge: ``<25``, ``25-35``, ..., ``>=65``. Pure models and checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from doorstep.core.suggest import did_you_mean

if TYPE_CHECKING:
    from doorstep.core.spec.loader import SpecDocument
    from doorstep.errors import SpecIssue

__all__ = ["DEFAULT_MIN_GROUP", "BandSpec", "FairnessSpec", "fairness_issues"]

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


class FairnessSpec(_Strict):
    """Grouping of decisions for ``doorstep fairness`` (see docs/fairness.md)."""

    min_group: Annotated[int, Field(ge=1)] = DEFAULT_MIN_GROUP
    """Decisions a group needs before its rates are reported; below it a group is "too few"
    and stays out of the differences and ratios between groups."""
    bands: dict[str, BandSpec] = {}
    """Named bands of numeric sensitive fields, usable with ``--by NAME``, e.g.
    ``age_band: {field: age, edges: [25, 35, 50, 65]}``."""


def fairness_issues(doc: SpecDocument) -> list[SpecIssue]:
    """Bands against the input fields: the field exists, is numeric and sensitive, and the
    band's name is not a field's."""
    spec = doc.spec
    fields = spec.inputs.fields
    issues: list[SpecIssue] = []
    for name, band in spec.monitoring.fairness.bands.items():
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
