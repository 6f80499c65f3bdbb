"""What the decision service asks of the store. ``doorstep.store.Store`` implements it on
SQLite and PostgreSQL; the web layer and the services depend on this contract alone.

Everything a call writes (decisions, their deliveries, reviews, keys, model versions, and the
audit events that describe them) is committed in one transaction, or not at all.

The outbox types (:class:`DeliveryRecord`, :class:`ClaimedDelivery`, :class:`Delivery`, ...)
are described in ``docs/deliveries.md``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from doorstep.store.decision_rows import DecisionRows
from doorstep.store.feedback import FeedbackCounts, OutcomesRecorded, OutcomeWrite, WindowCounts
from doorstep.store.rejects import RejectCount, RejectRecord
from doorstep.store.shadow_records import ShadowDecision, VersionCounts
from doorstep.store.streams import ConsumerReport, StreamSummary
from doorstep.store.views import (
    AppActivity,
    AppEvents,
    DecisionCase,
    QueuePage,
    QueueQuery,
    ReviewClaim,
)
from doorstep.types import AuditEvent, Decision, Delivery, DeliveryState, Review

if TYPE_CHECKING:
    from doorstep.store.alerts import AlertState, AlertTransition
    from doorstep.store.runs import ChunkProgress, RunInfo, RunLease, RunPage, RunQuery, RunState

__all__ = [
    "DecisionStore",
    "ReviewStore",
    "OutboxStore",
    "DeliveryAdminStore",
    "OutcomeStore",
    "ModelVersionStore",
    "Stage",
    "StageChange",
    "ShadowStore",
    "ChallengerStore",
    "KeyStore",
    "AuditStore",
    "ActivityStore",
    "RunStore",
    "LeaseStore",
    "AlertStore",
    "ApiKey",
    "AttemptResult",
    "AuditReport",
    "ClaimedDelivery",
    "ConnectorState",
    "DecisionPage",
    "DecisionQuery",
    "DeliveryChanges",
    "FinishRequest",
    "DeliveryPage",
    "DeliveryQuery",
    "DeliveryRecord",
    "RecordOutcome",
    "RecordRequest",
    "Role",
    "StoreContract",
    "StreamStore",
    "Verdict",
]

Role = Literal["admin", "owner", "reviewer", "viewer", "client"]


@dataclass(frozen=True)
class DeliveryRecord:
    """One action of one decision, as written to the outbox (``deliveries``) with its decision.

    ``key`` is the stable idempotency key sent to receivers (``webhook-id``): the same on every
    attempt and every worker, made by :func:`doorstep.services.deliver.actions.delivery_key`."""

    id: str
    decision_id: str
    app: str
    action: str
    connector: str
    key: str
    state: Literal["held", "pending"]
    created_at: datetime
    next_attempt_at: datetime | None = None
    """When a ``pending`` delivery is due (default: ``created_at``); ignored for ``held``."""


@dataclass(frozen=True)
class RecordRequest:
    """The decisions of one API request (or batch run), with its idempotency claim.

    ``idempotency_key`` and ``body_sha256`` come together; ``response`` is the exact response
    body the caller will send, stored so that a retry with the same key and body gets it back
    byte for byte."""

    decisions: list[Decision]
    idempotency_key: str | None = None
    body_sha256: str | None = None
    response: bytes | None = None
    app: str | None = None
    """The app the idempotency key belongs to; defaults to the app of the first decision (a
    request whose records were all rejected has no decisions, so pass it then)."""
    deliveries: list[DeliveryRecord] = field(default_factory=list)
    """The outbox rows of these decisions, written in the same transaction (a replayed or
    conflicting request writes none)."""
    shadow: list[ShadowDecision] = field(default_factory=list)
    """What the shadow version decided on these decisions, written in the same transaction
    (never delivered; a replayed or conflicting request writes none)."""
    rejects: list[RejectRecord] = field(default_factory=list)
    """The records refused with them (one per broken rule), kept in the same transaction."""
    rows: DecisionRows | None = None
    """Decisions as columns (the batch paths: a file's chunk), written as ``decisions`` would
    be; a request carries its decisions one way or the other, not both."""

    def decision_ids(self) -> list[str]:
        """The ids of every decision of the request, whichever way it carries them."""
        ids = [d.id for d in self.decisions]
        return ids if self.rows is None else ids + self.rows.ids

    def decision_count(self) -> int:
        return len(self.decisions) + (0 if self.rows is None else len(self.rows))


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
    items: list[Decision]
    next_cursor: str | None


@dataclass(frozen=True)
class Verdict:
    decision_id: str
    verdict: Literal["approve", "override"]
    reason: str
    actor: str
    action: str | None = None
    """Override target (an action name, or ``none``); ignored for ``approve``."""
    deliveries: list[DeliveryRecord] = field(default_factory=list)
    """An override's deliveries of its new action (``pending``); the decision's ``held``
    deliveries with other keys are cancelled. Ignored for ``approve``, which releases them."""
    key_id: str | None = None
    """The API key giving the verdict: a live claim of another key on the decision refuses it
    (``ReviewClaimedError``)."""
    hold_seconds: float = 0.0
    """The undo window: the deliveries the verdict releases or adds are due only after it, and
    until then :meth:`ReviewStore.undo_review` takes the verdict back (0: no undo)."""


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
    last_used_at: datetime | None = None
    """When a request last came with it (to within a minute; ``None``: not since it was made)."""


@dataclass(frozen=True)
class AuditReport:
    """Result of walking the audit chain: ``ok``, or the first bad event and what is wrong."""

    ok: bool
    events: int
    first_bad_seq: int | None = None
    problem: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeliveryQuery:
    """Filters of :meth:`StoreContract.list_deliveries` (``None``: any)."""

    app: str | None = None
    state: DeliveryState | None = None
    connector: str | None = None
    decision_id: str | None = None
    cursor: str | None = None
    """Opaque; the ``next_cursor`` of the previous page."""
    limit: int = 100
    attempts: bool = False
    """Fill each delivery's ``history`` (its attempts; one more query for the page)."""


@dataclass(frozen=True)
class DeliveryPage:
    items: list[Delivery]
    next_cursor: str | None


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery a worker holds under a lease, with its decision (for the templates)."""

    id: str
    key: str
    app: str
    action: str
    connector: str
    attempts: int
    """This attempt's place in the current cycle: 1 for the first."""
    number: int
    """This attempt's number over the delivery's whole life."""
    lease_token: str
    lease_expires_at: datetime
    decision: Decision | None
    """``None`` for an alert: then :attr:`message` holds what to send."""
    message: dict[str, Any] | None = None
    """An alert's ready ``context``, ``payload`` and ``text`` (see
    ``services/monitor/alerts.py``)."""


@dataclass(frozen=True)
class AttemptResult:
    """What a worker reports for one attempt (see :class:`doorstep.connectors.base.SendResult`)."""

    outcome: str
    detail: str = ""
    status: int | None = None


@dataclass(frozen=True)
class FinishRequest:
    """One attempt's end, for :meth:`StoreContract.finish_deliveries`."""

    delivery_id: str
    lease_token: str
    result: AttemptResult
    next_attempt_at: datetime | None
    final_state: DeliveryState


@dataclass(frozen=True)
class DeliveryChanges:
    """What :meth:`StoreContract.retry_deliveries` / ``cancel_deliveries`` did, id by id."""

    changed: list[str]
    skipped: dict[str, DeliveryState]
    """Ids left alone, with the state that does not allow the change."""
    missing: list[str]


@dataclass(frozen=True)
class ConnectorState:
    """A connector the dispatcher no longer sends to (the target answered HTTP 410 Gone)."""

    app: str
    connector: str
    disabled_at: datetime
    detail: str | None


class DecisionStore(Protocol):
    """Decisions: recorded with their deliveries and idempotency claims, read back, listed."""

    def record(
        self, requests: list[RecordRequest], *, actor: str, one_event: bool = False
    ) -> list[RecordOutcome]:
        """Write many requests' decisions and deliveries in ONE transaction, with one audit
        event per request (its payload holds the digest of its decision rows), or with
        ``one_event`` one event per app for all of them (a stream's micro-batch). The
        idempotency keys are claimed together, first. Outcomes are in request order."""
        ...

    def get_decision(self, decision_id: str) -> Decision | None: ...

    def record_rejects(self, rejects: list[RejectRecord]) -> None:
        """Keep refused records that came without any decision to record them with."""
        ...

    def list_decisions(self, query: DecisionQuery) -> DecisionPage:
        """Newest first; cursor pagination stable under concurrent inserts."""
        ...


class ReviewStore(Protocol):
    """Reviews: verdicts on decisions sent for review, and the review queue with its claims."""

    def review(self, verdict: Verdict) -> Decision:
        """Record a verdict on a ``pending_review`` decision. Raises ``ReviewNotFoundError``,
        ``ReviewConflictError`` (not pending, or already reviewed — also under concurrency).
        In the same transaction, approve makes the decision's ``held`` deliveries ``pending``;
        override cancels them and inserts the verdict's deliveries."""
        ...

    def undo_review(self, decision_id: str, actor: str, *, now: datetime) -> Decision:
        """Take back the verdict on a decision within its undo window: the decision is
        ``pending_review`` again, the review gone, the deliveries the verdict released held
        again (those it added gone, those it cancelled held), and ``review.undone`` recorded.
        Raises ``NotFoundError``, or ``ReviewConflictError`` (no verdict, the window closed, or
        a delivery moved on since)."""
        ...

    def get_review(self, decision_id: str) -> Review | None:
        """The verdict on a decision (``verdict``, ``action``, ``reason``, ``actor``,
        ``created_at``), or ``None`` before one was given."""
        ...

    def review_queue(self, query: QueueQuery, *, now: datetime) -> QueuePage:
        """Decisions ``pending_review`` matching ``query``, with their live claims."""
        ...

    def claim_review(
        self, decision_id: str, key_id: str, actor: str, *, seconds: float, now: datetime
    ) -> ReviewClaim:
        """Claim a pending decision for ``seconds`` (again by the same key: renewed). Raises
        ``NotFoundError``, ``ReviewConflictError`` (not pending) or ``ReviewClaimedError``
        (another key's claim has not expired)."""
        ...

    def review_claim(self, decision_id: str, *, now: datetime) -> ReviewClaim | None:
        """The live claim on a decision, if any."""
        ...

    def release_review(self, decision_id: str, key_id: str, *, now: datetime) -> bool:
        """Drop this key's claim (or an expired one); ``False`` when there was none to drop.
        Raises ``ReviewClaimedError`` when another key holds a live claim."""
        ...

    def skip_review(self, decision_id: str, key_id: str, actor: str, *, now: datetime) -> bool:
        """Put a pending case back in the queue (this key's claim dropped) and record the skip
        (audit event ``review.skipped``, subject the decision); ``False`` when the case is no
        longer pending (nothing recorded). Raises ``NotFoundError``, or
        ``ReviewClaimedError`` when another key holds a live claim."""
        ...


class OutboxStore(Protocol):
    """The outbox as the dispatcher works it: due deliveries claimed under leases, attempts finished
    once."""

    def claim_deliveries(
        self,
        worker: str,
        limit: int,
        lease_seconds: float,
        *,
        apps: list[str] | None = None,
        now: datetime | None = None,
        exclude: Sequence[str] = (),
    ) -> list[ClaimedDelivery]:
        """Lease up to ``limit`` due deliveries (``pending`` ones whose time has come, and
        ``sending`` ones whose lease expired), oldest due first, skipping disabled connectors,
        the deliveries in ``exclude`` (those the caller is still sending) and, when ``apps`` is
        given, other apps. Concurrent callers never get the same one."""
        ...

    def finish_delivery(
        self,
        delivery_id: str,
        lease_token: str,
        result: AttemptResult,
        next_attempt_at: datetime | None,
        final_state: DeliveryState,
        *,
        now: datetime | None = None,
    ) -> bool:
        """Record the attempt (always) and move the delivery to ``final_state`` (``pending``
        with ``next_attempt_at`` for a retry, ``delivered`` or ``dead``) only while the lease
        ``lease_token`` is still held and unexpired; ``False`` when it is not."""
        ...

    def finish_deliveries(
        self, requests: list[FinishRequest], *, now: datetime | None = None
    ) -> list[bool]:
        """:meth:`finish_delivery` for many attempts in one transaction (one commit for what
        several sending threads finished at once); results in request order."""
        ...

    def finish_and_claim_deliveries(
        self,
        finished: list[FinishRequest],
        worker: str,
        limit: int,
        lease_seconds: float,
        *,
        apps: list[str] | None = None,
        now: datetime | None = None,
        exclude: Sequence[str] = (),
    ) -> tuple[list[bool], list[ClaimedDelivery]]:
        """:meth:`finish_deliveries` then :meth:`claim_deliveries` in one transaction: a worker
        records the attempts that ended and takes new deliveries with one commit."""
        ...


class DeliveryAdminStore(Protocol):
    """The outbox for operators: deliveries listed and read with their attempts, re-driven or
    cancelled, connectors disabled and enabled, counts by state."""

    def list_deliveries(self, query: DeliveryQuery) -> DeliveryPage:
        """Newest first; cursor pagination like :meth:`list_decisions`."""
        ...

    def get_delivery(self, delivery_id: str) -> Delivery | None:
        """The delivery with its attempts (``history``)."""
        ...

    def retry_deliveries(
        self, ids: list[str], *, actor: str, reason: str | None = None
    ) -> DeliveryChanges:
        """``dead`` and ``cancelled`` deliveries become ``pending`` now with a fresh cycle of
        attempts; one audit event (with ``reason`` when given). Other states are skipped."""
        ...

    def cancel_deliveries(
        self, ids: list[str], *, actor: str, reason: str | None = None
    ) -> DeliveryChanges:
        """``held``, ``pending`` and ``dead`` deliveries become ``cancelled``; one audit event
        (with ``reason`` when given). A delivery being sent (``sending``) cannot be
        cancelled."""
        ...

    def disable_connector(self, app: str, connector: str, detail: str, *, actor: str) -> bool:
        """Stop claiming deliveries of this connector; ``False`` if it was disabled already."""
        ...

    def enable_connector(self, app: str, connector: str, *, actor: str) -> bool:
        """Claim its deliveries again; ``False`` if it was not disabled."""
        ...

    def disabled_connectors(self, app: str | None = None) -> list[ConnectorState]: ...

    def delivery_counts(self, app: str | None = None) -> dict[str, int]:
        """Deliveries by state (every state present, zero when none)."""
        ...


class OutcomeStore(Protocol):
    """Outcomes: recorded and matched to decisions, and the decisions read back with them for
    monitoring and training data."""

    def record_outcomes(self, write: OutcomeWrite, *, actor: str) -> OutcomesRecorded:
        """Match outcomes to decisions and record them, matched or not, with one
        ``outcomes.recorded`` event; duplicates write nothing, contradictions are refused row
        by row (see ``doorstep.store.feedback``)."""
        ...

    def iter_labelled(
        self,
        app: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        chunk_rows: int = 10_000,
    ) -> Iterator[list[Any]]:
        """Decisions made in ``[since, until)`` that have an outcome, with their latest one, in
        chunks of tuples of ``LABELLED_COLUMNS``, by ascending score."""
        ...

    def iter_training_rows(
        self,
        app: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        labelled_only: bool = False,
        chunk_rows: int = 10_000,
    ) -> Iterator[list[Any]]:
        """Decisions with their review and latest outcome, oldest first, in chunks of tuples of
        ``TRAINING_COLUMNS``."""
        ...

    def feedback_counts(
        self, app: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> FeedbackCounts:
        """Decisions, labelled decisions and outcomes of ``[since, until)``."""
        ...

    def window_counts(
        self, app: str, *, since: datetime, until: datetime, step_seconds: int
    ) -> list[WindowCounts]:
        """Decisions of ``[since, until)`` and their reviews per window of ``step_seconds``
        (index 0 starts at ``since``) and model version, in one aggregation."""
        ...

    def window_counts_between(self, app: str, *, edges: list[datetime]) -> list[WindowCounts]:
        """As :meth:`window_counts`, for windows of any lengths: window ``i`` is
        ``[edges[i], edges[i + 1])``."""
        ...

    def reject_counts(self, app: str, *, edges: list[datetime]) -> list[RejectCount]:
        """Refused records per window ``[edges[i], edges[i + 1])``, field and rule."""
        ...

    def row_window_edges(self, app: str, *, rows: int) -> list[datetime]:
        """The times of the app's decisions number 1, ``rows`` + 1, 2 ``rows`` + 1, … (by time,
        then id): where each window of ``rows`` decisions starts."""
        ...

    def iter_window_inputs(
        self,
        app: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        chunk_rows: int = 10_000,
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Decisions made in ``[since, until)``, oldest first, in pages of tuples of
        ``WINDOW_INPUT_COLUMNS`` (id, time in epoch microseconds, model version, inputs as JSON
        text, score, action): each page its own keyset read."""
        ...


Stage = Literal["candidate", "shadow", "canary", "champion", "retired"]
"""A model version's stage: registered (``candidate``), scoring beside the champion
(``shadow``), deciding a share of entities (``canary``), deciding the rest (``champion``), or
no longer used (``retired``)."""


@dataclass(frozen=True)
class StageChange:
    """One version of an app moved to ``stage`` (``share``: the canary's, in (0, 1])."""

    version: str
    stage: Stage
    share: float | None = None


class ShadowStore(Protocol):
    """Shadow decisions: what a shadow model version decided beside each recorded decision,
    never acted on."""

    def record_shadow(self, rows: Sequence[ShadowDecision]) -> int:
        """Write shadow rows in a transaction of their own (their decisions already recorded);
        the decision path writes them with its decisions through ``shadow.insert_shadow``."""
        ...

    def iter_shadow(
        self,
        app: str,
        model_version: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        chunk_rows: int = 10_000,
    ) -> Iterator[list[ShadowDecision]]:
        """One version's shadow rows whose decisions were made in ``[since, until)``, oldest
        first, in pages of at most ``chunk_rows``: each page its own keyset read."""
        ...


class ChallengerStore(Protocol):
    """Champion against challenger: labelled decisions with their version, shadow rows with the
    decisions they shadow and their outcome, and counts per version (see ``challengers.py``)."""

    def iter_version_labelled(
        self,
        app: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        chunk_rows: int = 10_000,
    ) -> Iterator[list[Any]]:
        """Labelled decisions of ``[since, until)`` as tuples of
        ``VERSION_LABELLED_COLUMNS`` (the version that made each included), oldest first."""
        ...

    def iter_shadow_labelled(
        self,
        app: str,
        model_version: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        chunk_rows: int = 10_000,
    ) -> Iterator[list[Any]]:
        """Labelled decisions ``model_version`` shadowed, as tuples of
        ``SHADOW_LABELLED_COLUMNS`` (the champion's decision, then the shadow's)."""
        ...

    def version_counts(
        self, app: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[VersionCounts]:
        """Decisions per version: all, acting, reviewed, overridden."""
        ...

    def iter_replay(
        self,
        app: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        chunk_rows: int = 10_000,
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Decisions of ``[since, until)`` with their inputs (JSON text) and latest outcome, as
        tuples of ``REPLAY_COLUMNS``, oldest first: each page its own keyset read."""
        ...

    def shadow_counts(
        self, app: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[VersionCounts]:
        """Shadow rows per version: all, acting, and those it would have sent to review."""
        ...


class ModelVersionStore(Protocol):
    """Model versions of each app, registered by content hash, their stages (every change
    recorded and audited) and their promotions to champion (see ``store/versions.py``)."""

    def register_model_version(
        self,
        app: str,
        version: str,
        content_hash: str,
        owner: str,
        *,
        actor: str,
        notes: str | None = None,
        path: str | None = None,
        reference: str | None = None,
        stage: Stage | None = None,
        reason: str = "registered",
    ) -> bool:
        """Idempotent: registering the same (app, version, hash) again changes nothing, appends
        no event and returns ``False``; a different hash under the same version raises
        ``StoreError``. A new version is a ``candidate``, or moves at once to ``stage``
        (``champion`` retires the app's champion, in the same transaction)."""
        ...

    def model_versions(self, app: str | None = None) -> list[dict[str, Any]]: ...

    def model_stages(self, app: str) -> tuple[list[dict[str, Any]], int]:
        """The app's versions and its stage generation (the id of its latest stage change),
        read together: pass it as ``expect`` to change them."""
        ...

    def stage_generation(self) -> int:
        """The id of the latest stage change of any app: cheap (no pooled transaction),
        polled by servers to switch versions without a restart."""
        ...

    def change_model_stages(
        self,
        app: str,
        changes: Sequence[StageChange],
        *,
        actor: str,
        reason: str,
        expect: int | None,
    ) -> None:
        """Apply ``changes`` in one transaction, each recorded and audited; ``ConflictError``
        when the app's stage generation is no longer ``expect``."""
        ...

    def model_stage_history(self, app: str) -> list[dict[str, Any]]: ...

    def model_promotions(self, app: str, *, state: str | None = None) -> list[dict[str, Any]]:
        """Promotions of the app, oldest first, each with its ``approvals``."""
        ...

    def request_model_promotion(
        self,
        app: str,
        version: str,
        *,
        required: int,
        actor: str,
        key_id: str | None,
        reason: str,
    ) -> str:
        """Open a promotion (one pending per app: ``ConflictError`` otherwise); its id."""
        ...

    def approve_model_promotion(
        self,
        promotion: dict[str, Any],
        *,
        actor: str,
        key_id: str | None,
        reason: str,
        changes: Sequence[StageChange],
        expect: int | None,
    ) -> None:
        """Add one approval; with ``changes`` (the last approval) also close the promotion as
        approved and apply them, in the same transaction."""
        ...

    def withdraw_model_promotion(
        self, promotion: dict[str, Any], *, actor: str, reason: str
    ) -> None: ...


class KeyStore(Protocol):
    """API keys: created (secret shown once, hash stored), authenticated, listed, revoked, given
    another role; and the page sessions started with them."""

    def create_key(self, name: str, role: Role, *, actor: str) -> tuple[ApiKey, str]:
        """Returns the key record and the secret (shown once; only its hash is stored)."""
        ...

    def authenticate(self, secret: str) -> ApiKey | None:
        """The key for a secret, if it exists and is not revoked (constant-time comparison)."""
        ...

    def list_keys(self) -> list[ApiKey]: ...

    def get_key(self, key_id: str) -> ApiKey | None:
        """The key with this id, revoked or not."""
        ...

    def revoke_key(self, key_id: str, *, actor: str) -> ApiKey:
        """Revoke a key and end its page sessions, in one transaction (idempotent)."""
        ...

    def change_key_role(self, key_id: str, role: Role, *, actor: str) -> ApiKey:
        """Give a key another role and end its page sessions, in one transaction (audited)."""
        ...

    def count_keys(self) -> int: ...

    def touch_keys(self, used: dict[str, datetime]) -> None:
        """Record when keys were last used (key id -> moment); a moment older than the one
        stored changes nothing. No audit event: it is operational, not state."""
        ...

    def key_generation(self) -> int:
        """A number that changes with every key revocation and role change (in the same
        transaction). Cheap (microseconds, no pooled transaction): read on every API request by
        servers that keep verified keys in memory."""
        ...

    def start_session(self, key_id: str, *, expires_at: datetime) -> str | None:
        """Start a page session of a key with its current role; returns the session's token
        (only its hash is stored), or ``None`` when the key is unknown or revoked."""
        ...

    def session_key(self, token: str, *, now: datetime) -> ApiKey | None:
        """The key of a live session: started, not ended, not expired, its key not revoked and
        still of the role the session started with. ``None`` otherwise."""
        ...

    def end_session(self, token: str) -> bool:
        """End a session (signing out); ``False`` when it had already ended."""
        ...


class AuditStore(Protocol):
    """The audit chain: events appended, the chain verified, a decision's events read."""

    def append_audit(self, kind: str, subject: str, payload: dict[str, Any], *, actor: str) -> int:
        """Append one event outside the calls above (e.g. ``app.loaded``); returns its seq."""
        ...

    def verify_audit(self) -> AuditReport: ...

    def audit_head(self) -> tuple[int, str] | None:
        """The newest event's seq and hash (``None`` for an empty chain): what an export of the
        head copies. Reads; verifies nothing."""
        ...

    def record_audit_anchor(
        self,
        app: str,
        key: str,
        head: tuple[int, str],
        *,
        connector: str | None,
        message: dict[str, Any],
        actor: str,
        now: datetime | None = None,
    ) -> bool:
        """Record an export of ``head`` under ``key`` (one per app and slot): an
        ``audit.anchored`` event and, with ``connector``, a delivery of ``message`` (``{context,
        payload, text}``), due now; ``False`` when ``key`` was recorded already."""
        ...

    def audit_hash(self, seq: int) -> str | None:
        """The hash of event ``seq`` (``None`` when there is none): what a saved head is
        checked against. Reads; verifies nothing."""
        ...

    def decision_audit(self, decision_id: str) -> list[AuditEvent]:
        """The audit events about one decision (its recording, verdict and deliveries' changes),
        oldest first."""
        ...

    def app_audit(self, app: str, *, kind_prefix: str, limit: int = 500) -> list[AuditEvent]:
        """The latest ``limit`` events about ``app`` (subject ``app``, ``app/...`` or
        ``app:...``) whose kind starts with ``kind_prefix`` (e.g. ``model``), oldest first."""
        ...


class ActivityStore(Protocol):
    """What the pages read: an app's decisions per day, verdicts and review backlog, and one
    decision's whole case."""

    def decision_case(self, decision_id: str, *, now: datetime) -> DecisionCase | None:
        """One decision with everything its page shows, in one read transaction: deliveries
        with their attempts, its model version, audit events, review and live claim."""
        ...

    def app_activity(self, app: str, *, days: int, now: datetime) -> AppActivity:
        """Decisions per day by action, verdicts, and the review backlog of ``app``."""
        ...

    def app_events(self, app: str, *, before: int | None = None, limit: int = 50) -> AppEvents:
        """What people and processes did to ``app``, newest first: verdicts, deliveries retried
        or cancelled, model versions, connectors, alerts, outcomes, and the API keys' changes
        (keys serve every app); not the recording of decisions. ``before``: a sequence number
        (the page after one ending there)."""
        ...


class RunStore(Protocol):
    """Batch runs from feature sources: started, taken over after a crash, advanced chunk by chunk
    under a lease, finished, listed."""

    def start_run(
        self,
        app: str,
        source: str,
        *,
        runner: str,
        lease_seconds: float,
        schedule: str | None = None,
        slot: datetime | None = None,
        now: datetime | None = None,
        options: dict[str, Any] | None = None,
    ) -> RunLease | None: ...

    def skip_slot(
        self,
        app: str,
        source: str,
        *,
        schedule: str,
        slot: datetime,
        reason: str,
        now: datetime | None = None,
    ) -> RunInfo | None: ...

    def last_slot(self, app: str, schedule: str) -> datetime | None: ...

    def expired_runs(self, *, now: datetime | None = None) -> list[RunInfo]: ...

    def reopen_run(self, run_id: str, *, actor: str, now: datetime | None = None) -> bool: ...

    def take_over_run(
        self, run_id: str, *, runner: str, lease_seconds: float, now: datetime | None = None
    ) -> RunLease | None: ...

    def record_run_chunk(
        self,
        lease: RunLease,
        requests: list[RecordRequest],
        progress: ChunkProgress,
        *,
        lease_seconds: float,
        actor: str,
    ) -> None: ...

    def finish_run(self, lease: RunLease, state: RunState, error: str | None) -> bool: ...

    def get_run(self, run_id: str) -> RunInfo | None: ...

    def list_runs(self, query: RunQuery) -> RunPage: ...


class LeaseStore(Protocol):
    """Named leases: one holder at a time across every server sharing the store (the run scheduler,
    the monitor)."""

    def acquire_lease(
        self, name: str, holder: str, seconds: float, *, now: datetime | None = None
    ) -> bool: ...

    def release_lease(self, name: str, holder: str) -> None: ...

    def lease_holders(self, prefix: str, *, now: datetime | None = None) -> dict[str, str]:
        """The unexpired leases whose name starts with ``prefix``: name -> holder."""
        ...


class AlertStore(Protocol):
    """Alert state per app and subject, changed by compare-and-set transitions."""

    def alert_states(self, app: str) -> dict[str, AlertState]: ...

    def apply_alert_transitions(
        self,
        transitions: list[AlertTransition],
        run: tuple[str, str, dict[str, Any]] | None,
        *,
        actor: str,
        now: datetime | None = None,
    ) -> list[AlertTransition]: ...


class StreamStore(Protocol):
    """What stream consumers report, for ``doorstep streams list``."""

    def report_stream_consumer(self, report: ConsumerReport) -> None: ...

    def list_streams(self, *, now: datetime | None = None) -> list[StreamSummary]: ...


class StoreContract(
    DecisionStore,
    ReviewStore,
    OutboxStore,
    DeliveryAdminStore,
    OutcomeStore,
    ModelVersionStore,
    ShadowStore,
    ChallengerStore,
    KeyStore,
    AuditStore,
    ActivityStore,
    RunStore,
    LeaseStore,
    AlertStore,
    StreamStore,
    Protocol,
):
    """The whole store, every aggregate: what :class:`doorstep.store.Store` implements on SQLite
    and PostgreSQL. A service declares the slice it uses (one of the protocols above, or a few
    combined); only what opens the store holds the whole of it."""

    url: str
    dialect: str
    """``sqlite`` or ``postgresql``."""

    def ping(self) -> None:
        """Raise ``StoreUnavailableError`` when the database cannot be reached or is locked."""
        ...
