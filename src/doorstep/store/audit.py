"""The audit chain: append-only, SHA-256 hash-chained events, and the walk that verifies it.

``hash = sha256(prev_hash || canonical_json({seq, at, actor, kind, subject, payload}))``; the
first event's ``prev_hash`` is 64 zeros. Events are appended in the transaction of the change
they describe; appends are serialised (PostgreSQL: a transaction-scoped advisory lock; SQLite:
the single writer lock taken by ``BEGIN IMMEDIATE``).

Decision and review rows carry the ``audit_seq`` of the event that recorded them, and those
events carry a digest of the rows, so that editing, deleting, inserting or moving a row is found
as well as tampering with the events themselves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from doorstep.store.canonical import canonical_bytes, canonical_json, iso
from doorstep.store.tables import audit_events
from doorstep.types import Decision

__all__ = [
    "AUDIT_LOCK",
    "GENESIS",
    "REVIEWED",
    "AuditWriter",
    "RowDigest",
    "decision_fields",
    "event_hash",
    "hash_of",
    "head",
    "review_fields",
]

GENESIS = "0" * 64
AUDIT_LOCK = 0x61756474  # "audt": advisory lock id serialising appends on PostgreSQL
REVIEWED = frozenset({"approved", "overridden"})


def event_hash(
    prev_hash: str,
    seq: int,
    at: datetime,
    actor: str,
    kind: str,
    subject: str,
    payload: Mapping[str, Any],
) -> str:
    body = {
        "seq": seq,
        "at": iso(at),
        "actor": actor,
        "kind": kind,
        "subject": subject,
        "payload": payload,
    }
    return hashlib.sha256(prev_hash.encode() + canonical_bytes(body)).hexdigest()


def decision_fields(row: Mapping[str, Any] | Decision, *, created: str | None = None) -> list[Any]:
    """The scalar fields of a decision that its ``decisions.recorded`` event vouches for (the
    JSON of ``inputs`` and ``reasons`` is added to the digest as the exact text stored).

    A review later moves ``status`` from ``pending_review`` to ``approved``/``overridden`` and
    sets ``final_action``; for reviewed rows the digest therefore uses the pre-review state
    (``pending_review``, no final action), and the review's own event vouches for the rest.
    ``created``: the row's ``created_at`` as :func:`iso` writes it, when the caller has it
    already (the rows of a batch share one)."""
    head: list[Any]
    tail: list[Any]
    if isinstance(row, Decision):
        status, final_action = row.status, row.final_action
        head = [row.id, row.app, row.entity_id, row.model_version, row.model_hash, row.score]
        tail = [row.predicted_class, row.action, row.rule, row.review, row.control]
        text, moment = row.reasons_text, row.created_at
    else:
        status, final_action = row["status"], row["final_action"]
        head = [row[c] for c in ("id", "app", "entity_id", "model_version", "model_hash")]
        head.append(row["score"])
        tail = [row[c] for c in ("predicted_class", "action", "rule", "review", "control")]
        text, moment = row["reasons_text"], row["created_at"]
    head[5] = float(head[5])
    tail[3], tail[4] = bool(tail[3]), bool(tail[4])
    reviewed = status in REVIEWED
    pre_review = reviewed or status == "pending_review"
    return [
        *head,
        *tail,
        "pending_review" if reviewed else status,
        None if pre_review else final_action,
        text,
        created if created is not None else iso(moment),
    ]


def review_fields(row: Mapping[str, Any]) -> list[Any]:
    return [
        row["id"],
        row["decision_id"],
        row["verdict"],
        row["action"],
        row["reason"],
        row["actor"],
        iso(row["created_at"]),
    ]


@dataclass
class RowDigest:
    """Running digest of the rows one event vouches for, fed in id order."""

    count: int = 0
    ids: Any = field(default_factory=hashlib.sha256)
    rows: Any = field(default_factory=hashlib.sha256)

    def add(self, row_id: str, fields: list[Any], *texts: str | None) -> None:
        """One row: its scalar fields, then JSON texts verbatim (canonical JSON has no raw
        newline, so the line structure is unambiguous)."""
        self.count += 1
        self.ids.update(row_id.encode() + b"\n")
        line = canonical_json(fields)
        for text in texts:
            line += "\n" + ("" if text is None else text)
        self.rows.update(line.encode() + b"\x1e")

    def add_lines(self, row_ids: list[str], lines: list[str]) -> None:
        """Many rows at once, in order: each row's id and its line as :meth:`add` builds it
        (its scalar fields' canonical JSON, then its JSON texts, joined by newlines). Feeding
        the concatenation gives the digest that feeding the parts one by one gives."""
        if not row_ids:
            return
        self.count += len(row_ids)
        self.ids.update(("\n".join(row_ids) + "\n").encode())
        self.rows.update(("\x1e".join(lines) + "\x1e").encode())

    def payload(self) -> dict[str, Any]:
        return {"count": self.count, "ids": self.ids.hexdigest(), "digest": self.rows.hexdigest()}


class AuditWriter:
    """Appends events within one open write transaction. Takes the chain lock and reads the
    head once; events are inserted together by :meth:`flush` before the transaction commits."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK})
        head = conn.execute(
            sa.select(audit_events.c.seq, audit_events.c.hash)
            .order_by(audit_events.c.seq.desc())
            .limit(1)
        ).first()
        self.seq: int = head.seq if head else 0
        self.hash: str = head.hash if head else GENESIS
        self.pending: list[dict[str, Any]] = []

    def append(
        self,
        kind: str,
        subject: str,
        payload: dict[str, Any],
        *,
        actor: str,
        at: datetime | None = None,
    ) -> int:
        """Queue one event; returns its seq (valid once the transaction commits)."""
        at = at or datetime.now(UTC)
        seq = self.seq + 1
        digest = event_hash(self.hash, seq, at, actor, kind, subject, payload)
        self.pending.append(
            {
                "seq": seq,
                "at": at,
                "actor": actor,
                "kind": kind,
                "subject": subject,
                "payload": payload,
                "prev_hash": self.hash,
                "hash": digest,
            }
        )
        self.seq, self.hash = seq, digest
        return seq

    def flush(self) -> None:
        if self.pending:
            self.conn.execute(audit_events.insert(), self.pending)
            self.pending = []


def head(conn: sa.Connection) -> tuple[int, str] | None:
    """The newest event's seq and hash; ``None`` for an empty chain."""
    row = conn.execute(
        sa.select(audit_events.c.seq, audit_events.c.hash)
        .order_by(audit_events.c.seq.desc())
        .limit(1)
    ).first()
    return None if row is None else (row.seq, row.hash)


def hash_of(conn: sa.Connection, seq: int) -> str | None:
    """The hash of event ``seq``; ``None`` when there is none."""
    return conn.execute(
        sa.select(audit_events.c.hash).where(audit_events.c.seq == seq)
    ).scalar_one_or_none()
