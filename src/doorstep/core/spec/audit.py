"""The spec's ``audit``: exporting the audit chain's head on a schedule, so that a copy of it
exists outside the database (``doorstep audit verify --expect SEQ:HASH`` checks it later). Pure
models: nothing is exported from here (see :mod:`doorstep.services.governance.anchor`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, field_validator

from doorstep.core.outcomes import parse_duration
from doorstep.core.suggest import did_you_mean

if TYPE_CHECKING:
    from doorstep.core.spec.loader import SpecDocument
    from doorstep.errors import SpecIssue

__all__ = ["MIN_ANCHOR_EVERY", "AnchorSpec", "AuditSpec", "audit_issues"]

MIN_ANCHOR_EVERY = timedelta(minutes=5)


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, use_attribute_docstrings=True
    )


class AnchorSpec(_Strict):
    every: str = "1h"
    """How often the head is exported, as a duration (``15m``, ``1h``, ``1d``); 5 minutes at
    the least. Slots start at whole multiples of it (UTC)."""
    connector: str | None = None
    """A connector of this spec that also gets each export as a delivery (a file line, a chat
    message, an e-mail, a webhook, a SQL row); without it the head is only logged."""

    @field_validator("every")
    @classmethod
    def _check_every(cls, value: str) -> str:
        if parse_duration(value) < MIN_ANCHOR_EVERY:
            raise ValueError("the head is exported at most every 5 minutes: 5m or more")
        return value

    @property
    def interval(self) -> timedelta:
        return parse_duration(self.every)


class AuditSpec(_Strict):
    anchor: AnchorSpec | None = None
    """Export the audit chain's head on a schedule, from ``doorstep serve`` and ``doorstep
    worker`` (one of them per slot), to the log and optionally a connector (see audit.md)."""


def audit_issues(doc: SpecDocument) -> list[SpecIssue]:
    """``audit.anchor.connector`` must name a connector of the spec."""
    anchor = doc.spec.audit.anchor
    if anchor is None or anchor.connector is None or anchor.connector in doc.spec.connectors:
        return []
    names = list(doc.spec.connectors)
    known = f"; declared connectors: {', '.join(names)}" if names else "; declare it"
    return [
        doc.issue(
            ("audit", "anchor", "connector"),
            f"unknown connector {anchor.connector!r}{did_you_mean(anchor.connector, names)}{known}",
        )
    ]
