"""What a decision's lineage says of its inputs, and looked-up values in the contract's types.

Online lookups (:mod:`doorstep.services.decide.features`) and batch runs from sources judge a
row the same way, with :func:`source_lineage`: its age, whether it is stale, whether its update
time lies in the future.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from doorstep.core.spec.models import FieldSpec
from doorstep.core.spec.sources import FeatureSourceSpec
from doorstep.errors import RecordError
from doorstep.sources.base import FeatureRow

__all__ = ["FUTURE_SKEW", "normalise_value", "request_fields", "source_lineage"]

FUTURE_SKEW = timedelta(minutes=5)
"""How far in the future a row's update time may lie (clocks of two machines differ a little).
Beyond it the row is suspicious: its lineage says ``future: true`` and, when the source has a
``max_age``, it is stale (its true age cannot be known)."""


def source_lineage(
    source: str,
    settings: FeatureSourceSpec | None,
    entity: str,
    fields: list[str],
    row: FeatureRow,
    now: datetime,
    *,
    record: int | None = None,
) -> tuple[dict[str, Any], RecordError | None]:
    """What a record's lineage says of one source (``fields``, ``observed_at``,
    ``age_seconds`` — negative for an update time in the future —, ``future: true`` when that
    time lies more than :data:`FUTURE_SKEW` ahead, and, when the source has a ``max_age``,
    ``stale``, which such a future row is), and the error that
    refuses the record when its features are stale and the source says ``on_stale: refuse``.
    Online lookups and batch runs judge a row the same way, with this."""
    age = None if row.observed_at is None else (now - row.observed_at).total_seconds()
    limit = None if settings is None else settings.max_age_delta
    future = age is not None and age < -FUTURE_SKEW.total_seconds()
    stale = limit is not None and (age is None or age > limit.total_seconds() or future)
    entry: dict[str, Any] = {
        "fields": fields,
        "observed_at": None if row.observed_at is None else _iso(row.observed_at),
        "age_seconds": None if age is None else round(age, 3),
    }
    if future:
        entry["future"] = True
    if limit is not None:
        entry["stale"] = stale
    if settings is None or not stale or settings.on_stale == "flag":
        return entry, None
    if age is None:
        when = "of no update time"
    elif future:
        when = (
            f"dated {_duration(-age)} in the future ({entry['observed_at']}): the source's "
            "clock or its update times are wrong"
        )
    else:
        when = f"{_duration(age)} old"
    error = RecordError(
        record,
        entity,
        fields[0] if fields else None,
        "stale",
        f"features of {entity!r} from source {source!r} ({', '.join(fields)}) are {when}; "
        f"max_age is {settings.max_age}",
    )
    return entry, error


def normalise_value(value: Any, spec: FieldSpec) -> Any:
    """A source's value in the JSON type the contract expects where it converts cleanly
    (``Decimal`` → float, ``"3"`` → 3, ``1`` → true for a bool); anything else as it is, for
    the contract to judge and name."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode()
    kind = spec.type
    try:
        if kind == "int":
            if isinstance(value, bool):
                return value
            if isinstance(value, int):
                return value
            number = float(value)
            return int(number) if number.is_integer() else value
        if kind == "float":
            if isinstance(value, bool):
                return value
            number = float(value)
            return number if math.isfinite(number) else None
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "t", "yes", "y"):
                return True
            if text in ("0", "false", "f", "no", "n"):
                return False
            return value
        if kind in ("category", "string"):
            return value if isinstance(value, str) else str(value)
        if kind == "datetime" and isinstance(value, datetime):
            return _iso(value)
    except (TypeError, ValueError, OverflowError):
        return value
    return value


def request_fields(record: dict[str, Any], fields: dict[str, FieldSpec]) -> list[str]:
    """The input fields ``record`` carries (a key present counts, even with ``null``)."""
    return [name for name in fields if name in record]


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _duration(seconds: float) -> str:
    if seconds >= 86_400:
        return f"{seconds / 86_400:.1f} days"
    if seconds >= 3_600:
        return f"{seconds / 3_600:.1f} hours"
    return f"{seconds / 60:.0f} minutes"
