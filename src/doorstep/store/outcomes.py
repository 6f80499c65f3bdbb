"""Outcomes: match a batch to decisions and record it, with one audit event, in one transaction.

Matching (see ``docs/monitoring.md``): an outcome keyed by a decision id belongs to that
decision (if it is one of the app's and was made before the observation); one keyed by entity
belongs to the entity's latest decision made at most ``horizon`` before the observation.
Outcomes that match nothing are recorded anyway, with the reason.

Idempotency: an outcome is identified by (app, what it was keyed by, the key, observed at). The
same outcome again is a duplicate and writes nothing; one with the same identity but another
label or value is refused row by row, and the rest of the batch is recorded.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from doorstep.ids import new_id
from doorstep.store.audit import AuditWriter, RowDigest
from doorstep.store.canonical import iso
from doorstep.store.feedback import OutcomeRowError, OutcomesRecorded, OutcomeWrite
from doorstep.store.labelled import epoch_us
from doorstep.store.tables import decisions, outcomes
from doorstep.types import Outcome

__all__ = ["KIND", "outcome_fields", "record_outcomes"]

KIND = "outcomes.recorded"
_IN_CHUNK = 500
"""Values per ``IN (...)`` list (SQLite and PostgreSQL both take far more; this keeps
statements small)."""


def outcome_fields(row: Any) -> list[Any]:
    """The fields of an outcome row that its ``outcomes.recorded`` event vouches for."""
    value = row["value"]
    return [
        row["id"],
        row["app"],
        row["ref_kind"],
        row["ref"],
        iso(row["observed_at"]),
        row["decision_id"],
        row["entity_id"],
        row["label"],
        None if value is None else float(value),
        row["unmatched"],
        row["source"],
        iso(row["recorded_at"]),
    ]


@dataclass(frozen=True)
class _Match:
    decision_id: str | None
    entity_id: str | None
    unmatched: str | None


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), _IN_CHUNK):
        yield unique[start : start + _IN_CHUNK]


def _ref(item: Outcome) -> tuple[str, str]:
    if item.decision_id is not None:
        return "decision", item.decision_id
    assert item.entity_id is not None
    return "entity", item.entity_id


def _same(item: Outcome, label: str | None, value: float | None) -> bool:
    return item.label == label and item.value == value


def _describe(label: str | None, value: float | None) -> tuple[str, str]:
    return ("label", f"label {label!r}") if label is not None else ("value", f"value {value!r}")


def record_outcomes(
    conn: sa.Connection, audit: AuditWriter, write: OutcomeWrite, actor: str, now: datetime
) -> OutcomesRecorded:
    result = OutcomesRecorded()
    fresh: list[Outcome] = []
    seen: dict[tuple[str, str, datetime], Outcome] = {}
    for item in write.outcomes:
        identity = (*_ref(item), item.observed_at)
        earlier = seen.get(identity)
        if earlier is None:
            seen[identity] = item
            fresh.append(item)
        elif _same(item, earlier.label, earlier.value):
            result.duplicates += 1
        else:
            result.errors.append(
                _conflict(item, earlier.label, earlier.value, f"row {earlier.row}")
            )
    fresh = _drop_recorded(conn, write.app, fresh, result)
    matches = _match(conn, write, fresh, result)
    rows: list[dict[str, Any]] = []
    for item, match in zip(fresh, matches, strict=True):
        if match is None:  # refused while matching
            continue
        kind, ref = _ref(item)
        rows.append(
            {
                "id": new_id(),
                "app": write.app,
                "ref_kind": kind,
                "ref": ref,
                "observed_at": item.observed_at,
                "decision_id": match.decision_id,
                "entity_id": match.entity_id,
                "label": item.label,
                "value": item.value,
                "unmatched": match.unmatched,
                "source": write.source,
                "recorded_at": now,
            }
        )
        if match.unmatched is None:
            result.matched += 1
        else:
            result.unmatched[match.unmatched] += 1
            result.unmatched_rows.append((item.row, match.unmatched))
    if not rows:
        return result
    rows.sort(key=lambda r: r["id"])
    digest = RowDigest()
    for row in rows:
        digest.add(row["id"], outcome_fields(row))
    payload = {
        "app": write.app,
        "source": write.source,
        "matched": result.matched,
        "unmatched": dict(sorted(result.unmatched.items())),
        **digest.payload(),
    }
    seq = audit.append(KIND, write.app, payload, actor=actor, at=now)
    sqlite = conn.dialect.name == "sqlite"
    conn.exec_driver_sql(
        _insert_sql(conn.dialect.name),
        [
            tuple(
                _db_time(row[c], sqlite) if c in _TIMES else (seq if c == "audit_seq" else row[c])
                for c in _COLUMNS
            )
            for row in rows
        ],
    )
    result.recorded = len(rows)
    result.audit_seq = seq
    return result


_COLUMNS = [c.name for c in outcomes.c]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_TIMES = {"observed_at", "recorded_at"}


def _insert_sql(dialect: str) -> str:
    """Rows go to the driver as tuples (no per-row parameter processing): a file import writes
    thousands per transaction."""
    mark = "%s" if dialect == "postgresql" else "?"
    return (
        f"INSERT INTO outcomes ({', '.join(_COLUMNS)}) VALUES ({', '.join([mark] * len(_COLUMNS))})"
    )


def _db_time(moment: datetime, sqlite: bool) -> datetime | str:
    """A UTC time as the store's ``UTCDateTime`` keeps it: naive text on SQLite."""
    moment = moment.astimezone(UTC)
    return (
        moment.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        if sqlite
        else moment
    )


def _conflict(item: Outcome, label: str | None, value: float | None, where: str) -> OutcomeRowError:
    field, before = _describe(label, value)
    _, now = _describe(item.label, item.value)
    kind, ref = _ref(item)
    return OutcomeRowError(
        item.row,
        field,
        "conflict",
        f"the outcome of {kind} {ref!r} observed at {iso(item.observed_at)} was recorded with "
        f"{before} ({where}), not {now}; send a correction with its own observation time",
    )


def _drop_recorded(
    conn: sa.Connection, app: str, items: list[Outcome], result: OutcomesRecorded
) -> list[Outcome]:
    """Leave out outcomes recorded before: duplicates, or conflicts when they disagree."""
    stored: dict[tuple[str, str, datetime], tuple[str | None, float | None]] = {}
    for kind in ("decision", "entity"):
        refs = [_ref(i)[1] for i in items if _ref(i)[0] == kind]
        for chunk in _chunks(refs):
            query = sa.select(
                outcomes.c.ref, outcomes.c.observed_at, outcomes.c.label, outcomes.c.value
            ).where(outcomes.c.app == app, outcomes.c.ref_kind == kind, outcomes.c.ref.in_(chunk))
            for row in conn.execute(query).all():
                stored[(kind, row.ref, row.observed_at)] = (row.label, row.value)
    kept: list[Outcome] = []
    for item in items:
        before = stored.get((*_ref(item), item.observed_at))
        if before is None:
            kept.append(item)
        elif _same(item, *before):
            result.duplicates += 1
        else:
            result.errors.append(_conflict(item, *before, "recorded before"))
    return kept


def _match(
    conn: sa.Connection, write: OutcomeWrite, items: list[Outcome], result: OutcomesRecorded
) -> list[_Match | None]:
    """The match of each item, by its position in ``items`` (``None``: refused). Positions, not
    the items' ``row`` numbers: a write may carry several outcomes from one row (a row per
    label column) or rows numbered by several sources."""
    matches: list[_Match | None] = [None] * len(items)
    by_decision = [(n, i) for n, i in enumerate(items) if i.decision_id is not None]
    by_entity = [(n, i) for n, i in enumerate(items) if i.decision_id is None]
    found: dict[str, Any] = {}
    for chunk in _chunks(i.decision_id for _, i in by_decision if i.decision_id is not None):
        query = sa.select(decisions.c.id, decisions.c.entity_id, decisions.c.created_at).where(
            decisions.c.app == write.app, decisions.c.id.in_(chunk)
        )
        found.update({row.id: row for row in conn.execute(query).all()})
    for n, item in by_decision:
        assert item.decision_id is not None
        decision = found.get(item.decision_id)
        if decision is None:
            matches[n] = _Match(None, item.entity_id, "unknown_decision")
        elif item.entity_id is not None and item.entity_id != decision.entity_id:
            result.errors.append(
                OutcomeRowError(
                    item.row,
                    "entity_id",
                    "entity_mismatch",
                    f"decision {item.decision_id!r} is about entity {decision.entity_id!r}, not "
                    f"{item.entity_id!r}; send the decision id or the entity id alone",
                )
            )
        elif item.observed_at < decision.created_at:
            matches[n] = _Match(None, decision.entity_id, "before_decision")
        else:
            matches[n] = _Match(decision.id, decision.entity_id, None)
    if by_entity:
        for n, match in _match_entities(conn, write, by_entity):
            matches[n] = match
    return matches


def _match_entities(
    conn: sa.Connection, write: OutcomeWrite, items: list[tuple[int, Outcome]]
) -> list[tuple[int, _Match]]:
    """Each outcome to its entity's latest decision in ``[observed - horizon, observed]``.

    The entities' decisions are read by entity id alone (the time window is applied here): with
    a time range in the query too, SQLite prefers the (app, created_at) index and scans every
    decision of the range for each chunk, which grows with the history."""
    history: dict[str, list[tuple[int, str]]] = defaultdict(list)
    entities = [i.entity_id for _, i in items if i.entity_id is not None]
    created_us = epoch_us(conn.dialect.name)
    for chunk in _chunks(entities):
        query = sa.select(decisions.c.entity_id, created_us, decisions.c.id).where(
            decisions.c.app == write.app, decisions.c.entity_id.in_(chunk)
        )
        for entity, created, decision_id in conn.execute(query).all():
            history[entity].append((created, decision_id))
    horizon_us = write.horizon // _MICROSECOND
    matches: list[tuple[int, _Match]] = []
    missed: list[tuple[int, Outcome]] = []
    for n, item in items:
        assert item.entity_id is not None
        observed = (item.observed_at - _EPOCH) // _MICROSECOND
        start = observed - horizon_us
        candidates = [c for c in history.get(item.entity_id, ()) if start <= c[0] <= observed]
        if candidates:
            matches.append((n, _Match(max(candidates)[1], item.entity_id, None)))
        else:
            missed.append((n, item))
    known: set[str] = set()
    for chunk in _chunks(i.entity_id for _, i in missed if i.entity_id is not None):
        query = (
            sa.select(decisions.c.entity_id)
            .where(decisions.c.app == write.app, decisions.c.entity_id.in_(chunk))
            .distinct()
        )
        known.update(conn.execute(query).scalars())
    for n, item in missed:
        reason = "outside_horizon" if item.entity_id in known else "no_decision"
        matches.append((n, _Match(None, item.entity_id, reason)))
    return matches
