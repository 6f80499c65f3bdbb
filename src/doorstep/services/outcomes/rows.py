"""Outcome rows, from a JSON body or a file, checked and turned into :class:`Outcome`.

A row names its decision (``decision_id``) or its entity (``entity_id``, or the app's id
field), holds the label or value under the spec's ``monitoring.outcome.field``, and says when
it was observed (``observed_at``, ISO 8601; no offset means UTC). A bad row becomes
:class:`~doorstep.errors.RecordError` s: rules ``id_required``, ``max_length``,
``required``, ``type``, ``max`` (in the future) and ``allowed_values``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from doorstep.core.outcomes import OutcomeSemantics, canonical_label, outcome_semantics
from doorstep.core.spec.models import Spec
from doorstep.core.suggest import did_you_mean
from doorstep.errors import RecordError
from doorstep.types import Outcome

__all__ = ["CLOCK_SKEW", "OutcomeParser"]

CLOCK_SKEW = timedelta(minutes=5)
"""Outcomes observed this far in the future (the sender's clock may run ahead) are accepted."""


class OutcomeParser:
    """Turns raw records (JSON objects, file rows) into :class:`Outcome` or errors."""

    def __init__(self, spec: Spec, *, now: datetime | None = None) -> None:
        self.spec = spec
        self.semantics: OutcomeSemantics = outcome_semantics(spec)
        self.id_field = spec.inputs.id
        self.now = now or datetime.now(UTC)

    @property
    def field(self) -> str:
        return self.semantics.field

    def parse(self, raw: Mapping[str, Any], row: int) -> Outcome | list[RecordError]:
        decision_id = _text(raw.get("decision_id"))
        entity_id = _text(raw.get("entity_id"))
        if entity_id is None:
            entity_id = _text(raw.get(self.id_field))
        errors: list[RecordError] = []
        if decision_id is None and entity_id is None:
            errors.append(
                RecordError(
                    row,
                    None,
                    "decision_id",
                    "id_required",
                    f"an outcome needs 'decision_id' or the entity's id ('{self.id_field}' or "
                    "'entity_id')",
                )
            )
        for name, key, longest in (
            ("decision_id", decision_id, 36),
            ("entity_id", entity_id, 200),
        ):
            if key is not None and len(key) > longest:
                errors.append(
                    RecordError(
                        row, entity_id, name, "max_length", f"{name} is longer than {longest}"
                    )
                )
        observed = self._observed_at(raw, row, entity_id, errors)
        label, value = self._outcome(raw, row, entity_id, errors)
        if errors:
            return errors
        assert observed is not None
        return Outcome(
            row=row,
            observed_at=observed,
            decision_id=decision_id,
            entity_id=entity_id,
            label=label,
            value=value,
        )

    def _observed_at(
        self,
        raw: Mapping[str, Any],
        row: int,
        entity: str | None,
        errors: list[RecordError],
    ) -> datetime | None:
        given = raw.get("observed_at")
        if given is None or (isinstance(given, str) and not given.strip()):
            errors.append(
                RecordError(row, entity, "observed_at", "required", "observed_at is required")
            )
            return None
        moment = _moment(given)
        if moment is None:
            errors.append(
                RecordError(
                    row,
                    entity,
                    "observed_at",
                    "type",
                    f"observed_at must be an ISO 8601 time such as 2025-03-01T12:00:00Z, got "
                    f"{given!r}",
                )
            )
            return None
        if moment > self.now + CLOCK_SKEW:
            errors.append(
                RecordError(
                    row,
                    entity,
                    "observed_at",
                    "max",
                    f"observed_at {moment.isoformat()} is in the future; send outcomes once "
                    "they have happened",
                )
            )
            return None
        return moment

    def _outcome(
        self, raw: Mapping[str, Any], row: int, entity: str | None, errors: list[RecordError]
    ) -> tuple[str | None, float | None]:
        name, semantics = self.field, self.semantics
        given = raw.get(name)
        if semantics.kind == "value":
            number = _number(given)
            if given is None or (isinstance(given, str) and not given.strip()):
                errors.append(RecordError(row, entity, name, "required", f"{name} is required"))
            elif number is None:
                errors.append(
                    RecordError(
                        row, entity, name, "type", f"{name} must be a number, got {given!r}"
                    )
                )
            return None, number
        label = canonical_label(given)
        if label is None:
            errors.append(RecordError(row, entity, name, "required", f"{name} is required"))
            return None, None
        if semantics.binary and label not in (semantics.positive, semantics.negative):
            allowed = [semantics.positive or "", semantics.negative or ""]
            errors.append(
                RecordError(
                    row,
                    entity,
                    name,
                    "allowed_values",
                    f"{name} must be {allowed[0]!r} (positive) or {allowed[1]!r} (negative), got "
                    f"{given!r}{did_you_mean(label, allowed)}",
                )
            )
            return None, None
        return label, None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    text = str(value).strip()
    return text or None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
