"""What the decision service asks of the store. ``doorstep.store.Store`` implements it on
SQLite and PostgreSQL; the web layer and the services depend on this contract alone.

Everything a call writes (decisions, reviews, keys, model versions, and the audit events that
describe them) is committed in one transaction, or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

__all__ = [
    "ApiKey",
    "AuditReport",
    "DecisionPage",
    "DecisionQuery",
    "DecisionRecord",
    "RecordOutcome",
    "RecordRequest",
    "Role",
    "StoreContract",
    "Verdict",
]

Role = Literal["admin", "owner", "reviewer", "viewer", "client"]


@dataclass(frozen=True)
class DecisionRecord:
    """One decision as stored. ``id`` is a UUIDv7 (sortable by time) made by the caller."""

    id: str
    app: str
    entity_id: str
    model_version: str
    model_hash: str
    inputs: dict[str, Any]
    score: float
    action: str
    rule: str | None
    review: bool
    control: bool
    status: str
    """``decided``, ``pending_review``, ``held_out``; after a review: ``approved`` or
    ``overridden``."""
    reasons: list[dict[str, Any]] | None
    reasons_text: str | None
    created_at: datetime
    predicted_class: str | None = None
    final_action: str | None = None
    """The action after review (the override's target, or the action when approved)."""


@dataclass(frozen=True)
class RecordRequest:
    """The decisions of one API request (or batch run), with its idempotency claim.

    ``idempotency_key`` and ``body_sha256`` come together; ``response`` is the exact response
    body the caller will send, stored so that a retry with the same key and body gets it back
    byte for byte."""

    decisions: list[DecisionRecord]
    idempotency_key: str | None = None
    body_sha256: str | None = None
    response: bytes | None = None
    app: str | None = None
    """The app the idempotency key belongs to; defaults to the app of the first decision (a
    request whose records were all rejected has no decisions, so pass it then)."""


@dataclass(frozen=True)
class RecordOutcome:
    """``recorded``: written now; ``replayed``: the key was seen with the same body, ``response``
    is the stored one and nothing was written; ``conflict``: the key was seen with another body."""

    status: Literal["recorded", "replayed", "conflict"]
    response: bytes | None = None


@dataclass(frozen=True)
class DecisionQuery:
    app: str
    entity_id: str | None = None
    action: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    cursor: str | None = None
    """Opaque; the ``next_cursor`` of the previous page."""
    limit: int = 100


@dataclass(frozen=True)
class DecisionPage:
    items: list[DecisionRecord]
    next_cursor: str | None


@dataclass(frozen=True)
class Verdict:
    decision_id: str
    verdict: Literal["approve", "override"]
    reason: str
    actor: str
    action: str | None = None
    """Override target (an action name, or ``none``); ignored for ``approve``."""


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    role: Role
    prefix: str
    """The first characters of the key, shown in lists (the key itself is never stored)."""
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class AuditReport:
    """Result of walking the audit chain: ``ok``, or the first bad event and what is wrong."""

    ok: bool
    events: int
    first_bad_seq: int | None = None
    problem: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class StoreContract(Protocol):
    url: str
    dialect: str
    """``sqlite`` or ``postgresql``."""

    def record(self, requests: list[RecordRequest], *, actor: str) -> list[RecordOutcome]:
        """Write many requests' decisions in ONE transaction, with one audit event per request
        (its payload holds the digest of its rows). Outcomes are in request order."""
        ...

    def get_decision(self, decision_id: str) -> DecisionRecord | None: ...

    def list_decisions(self, query: DecisionQuery) -> DecisionPage:
        """Newest first; cursor pagination stable under concurrent inserts."""
        ...

    def review(self, verdict: Verdict) -> DecisionRecord:
        """Record a verdict on a ``pending_review`` decision. Raises ``ReviewNotFoundError``,
        ``ReviewConflictError`` (not pending, or already reviewed — also under concurrency)."""
        ...

    def register_model_version(
        self, app: str, version: str, content_hash: str, owner: str, *, actor: str
    ) -> None:
        """Idempotent: registering the same (app, version, hash) again changes nothing and
        appends no event; a different hash under the same version raises ``StoreError``."""
        ...

    def model_versions(self, app: str | None = None) -> list[dict[str, Any]]: ...

    def create_key(self, name: str, role: Role, *, actor: str) -> tuple[ApiKey, str]:
        """Returns the key record and the secret (shown once; only its hash is stored)."""
        ...

    def authenticate(self, secret: str) -> ApiKey | None:
        """The key for a secret, if it exists and is not revoked (constant-time comparison)."""
        ...

    def list_keys(self) -> list[ApiKey]: ...

    def revoke_key(self, key_id: str, *, actor: str) -> ApiKey: ...

    def count_keys(self) -> int: ...

    def append_audit(self, kind: str, subject: str, payload: dict[str, Any], *, actor: str) -> int:
        """Append one event outside the calls above (e.g. ``app.loaded``); returns its seq."""
        ...

    def verify_audit(self) -> AuditReport: ...

    def ping(self) -> None:
        """Raise ``StoreUnavailableError`` when the database cannot be reached or is locked."""
        ...
