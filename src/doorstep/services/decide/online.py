"""Online decisions: JSON records → :func:`decide_batch` → store → the exact response bytes.

One call of :func:`decide_requests` serves many API requests of one app at once (a micro-batch
of single-record requests, or one request of many records): one model call per ``explain``
setting and one store transaction per caller. Every record is decided on its own — a bad record
gets an error naming its index, entity id, field and rule, and never stops the good ones.

The response bytes are built here, before the decisions are recorded, so that the store can keep
them for ``Idempotency-Key`` replays; the caller sends them only after :meth:`record` returned.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import orjson

from doorstep.core.bodies import Unreadable, parse_one_or_many
from doorstep.core.contract import frame_from_records
from doorstep.core.records import validate_clean
from doorstep.errors import (
    DoorstepError,
    EntityAmbiguousError,
    EntityNotFoundError,
    FeaturesStaleError,
    IdempotencyConflictError,
    RecordError,
    RecordsInvalidError,
)
from doorstep.ids import new_id
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.decide.backfill import as_backfilled
from doorstep.services.decide.batch import decide_batch, decide_validated
from doorstep.services.decide.features import FeatureLookup
from doorstep.services.decide.recording import record_batch
from doorstep.services.decide.rejects import kept_rejects
from doorstep.services.deliver.actions import deliveries_for
from doorstep.store.protocols import DecisionStore, RecordRequest
from doorstep.store.rejects import RejectRecord, RejectSource
from doorstep.store.shadow_records import ShadowDecision
from doorstep.types import Decision

__all__ = [
    "DecisionTally",
    "OnlineRequest",
    "OnlineResponse",
    "body_digest",
    "decide_requests",
    "encode_json",
    "parse_records",
]


@dataclass(frozen=True)
class OnlineRequest:
    """The records of one API request, parsed from JSON (see :func:`parse_records`)."""

    records: Sequence[Any]
    single: bool
    """The body was one record (answer with one decision object, or 422 when it is bad), not
    ``{"records": [...]}`` (answer ``{"decisions": [...], "errors": [...]}``)."""
    actor: str
    explain: bool | None = None
    idempotency_key: str | None = None
    body_sha256: str | None = None
    key_owner: str | None = None
    """Who sent the key (the API key's id): an ``Idempotency-Key`` is one caller's, so two
    callers who happen to choose the same key never see each other's answers."""
    decided_at: datetime | None = None
    """A backfill: record the decisions as made then, marked imported, with no deliveries
    (see :mod:`doorstep.services.decide.backfill`); ``None``: now, as usual."""
    lineage: dict[str, Any] | None = None
    """Where the records came from beyond feature lookups (a stream's name, partition,
    sequence and message id), merged into each decision's lineage."""
    source: RejectSource = "api"
    """Where the records came from, as the rejects table says it (``api``, ``stream``)."""
    record_name: str | None = None
    """What the rejects of this request name their record by (``stream:orders:42``, then
    ``:0`` for its first record); default: ``api:<a new id>``."""


@dataclass(frozen=True)
class OnlineResponse:
    body: bytes
    replayed: bool = False


@dataclass
class DecisionTally:
    """What a call recorded, for metrics: decisions by action, rejected records, reviews."""

    actions: Counter[str] = field(default_factory=Counter)
    rejected: int = 0
    pending_review: int = 0
    deliveries: int = 0
    """Deliveries written to the outbox (pending or held)."""


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON of a response (NaN and infinities, which JSON lacks, become null)."""
    return orjson.dumps(value)


def stored_key(owner: str | None, key: str | None) -> str | None:
    """The key as the store keeps it: scoped to its sender, and of a fixed length whatever the
    length of the key sent (SHA-256 of sender and key)."""
    if key is None:
        return None
    return hashlib.sha256(f"{owner or ''}\n{key}".encode()).hexdigest()


def body_digest(app: str, explain: bool | None, body: bytes) -> str:
    """SHA-256 of what makes a request: its app, explain setting and body bytes."""
    digest = hashlib.sha256(f"{app}\n{explain}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def parse_records(body: bytes, *, max_records: int) -> tuple[list[Any], bool]:
    """``(records, single)`` from a request body: one JSON object, or ``{"records": [...]}``."""
    return parse_one_or_many(body, key="records", noun="record", max_items=max_records)


def decide_requests(
    app: LoadedApp,
    store: DecisionStore,
    requests: Sequence[OnlineRequest],
    *,
    features: FeatureLookup | None = None,
    one_event: bool = False,
) -> tuple[list[OnlineResponse | DoorstepError], DecisionTally]:
    """Decide and record the requests of one app; one result per request, in order.

    A result is the response to send, or the error to answer with (bad single record,
    idempotency conflict, a feature source down). Store errors (e.g.
    :class:`StoreUnavailableError`) propagate: then nothing of these requests was recorded.
    With ``features``, what the records lack is looked up first (once for all the requests;
    see :mod:`doorstep.services.decide.features`). ``one_event``: one audit event for all the
    requests' decisions (a stream's micro-batch) instead of one per request.
    """
    builder = _Builder(app, requests)
    if features is not None:
        builder.enrich(features, requests)
    for flag in dict.fromkeys(r.explain for r in requests):
        builder.decide([i for i, r in enumerate(requests) if r.explain is flag], requests)
    results: list[OnlineResponse | DoorstepError | None] = [None] * len(requests)
    pending: dict[str, list[tuple[int, RecordRequest]]] = {}
    for index, request in enumerate(requests):
        built = builder.finish(index, request)
        if isinstance(built, DoorstepError):
            results[index] = built
        elif built.idempotency_key is None and not built.decisions:
            results[index] = OnlineResponse(built.response or b"")
        else:
            pending.setdefault(request.actor, []).append((index, built))
    tally = DecisionTally()
    unrecorded: list[RejectRecord] = []
    for index, result in enumerate(results):
        if result is not None:  # answered without the store: bad single record, or no decision
            builder.count(index, tally, decided=False)
            unrecorded += builder.rejects(index)
    store.record_rejects(unrecorded)  # kept, though nothing was decided
    for actor, group in pending.items():
        outcomes = store.record([req for _, req in group], actor=actor, one_event=one_event)
        for (index, req), outcome in zip(group, outcomes, strict=True):
            if outcome.status == "recorded":
                results[index] = OnlineResponse(req.response or b"")
                builder.count(index, tally, decided=True)
                tally.deliveries += len(req.deliveries)
            elif outcome.status == "replayed":
                results[index] = OnlineResponse(outcome.response or b"", replayed=True)
            else:
                results[index] = IdempotencyConflictError(
                    f"The Idempotency-Key {requests[index].idempotency_key!r} was used before "
                    "with another "
                    "request body. Use a new key for a new request, or resend the same body."
                )
    return [r for r in results if r is not None], tally


class _Builder:
    """Per-request decisions, errors and response items of one call."""

    def __init__(self, app: LoadedApp, requests: Sequence[OnlineRequest]) -> None:
        self.app, self.requests = app, requests
        size = len(requests)
        self.now = datetime.now(UTC)
        inputs = app.spec.inputs
        self.columns = [inputs.id, *inputs.fields]
        self.records: list[list[Decision]] = [[] for _ in range(size)]
        self.shadow: list[list[ShadowDecision]] = [[] for _ in range(size)]
        self.items: list[list[dict[str, Any]]] = [[] for _ in range(size)]
        self.errors: list[list[RecordError]] = [[] for _ in range(size)]
        # with feature sources: merged records, their lineage, those refused, requests failed
        self.merged: dict[tuple[int, int], Any] = {}
        self.lineage: dict[tuple[int, int], dict[str, Any] | None] = {}
        self.refused: set[tuple[int, int]] = set()
        self.failed: dict[int, DoorstepError] = {}
        # the offending values of refused records, by (request, position, field): kept
        self.values: dict[tuple[int, int, str | None], Any] = {}

    def enrich(self, features: FeatureLookup, requests: Sequence[OnlineRequest]) -> None:
        """Look up what the records of every request lack, once per source for all of them."""
        places = [(i, p) for i, r in enumerate(requests) for p in range(len(r.records))]
        flat = [requests[i].records[p] for i, p in places]
        enriched = features.enrich(flat, now=self.now)
        for slot, place in enumerate(places):
            index, position = place
            failure = enriched.failed.get(slot)
            if failure is not None:
                self.failed.setdefault(index, failure)
                continue
            errors = enriched.errors.get(slot)
            if errors:
                self.refused.add(place)
                self.errors[index].extend(replace(e, record=position) for e in errors)
                continue
            self.merged[place] = enriched.records[slot]
            self.lineage[place] = enriched.lineage[slot]

    def decide(self, indices: list[int], requests: Sequence[OnlineRequest]) -> None:
        rows: list[dict[str, Any]] = []
        owners: list[tuple[int, int]] = []
        for index in indices:
            if index in self.failed:
                continue
            for position, record in enumerate(requests[index].records):
                if (index, position) in self.refused:
                    continue
                record = self.merged.get((index, position), record)
                if isinstance(record, dict):
                    rows.append(record)
                    owners.append((index, position))
                elif isinstance(record, Unreadable):
                    entity = record.value_of(self.app.spec.inputs.id)
                    self.errors[index].append(
                        RecordError(position, entity, record.field, "encoding", record.message)
                    )
                else:
                    message = f"record {position} must be a JSON object, got {_kind(record)}"
                    self.errors[index].append(RecordError(position, None, None, "type", message))
        if not rows:
            return
        inputs, explain = self.app.spec.inputs, requests[indices[0]].explain
        clean = validate_clean(rows, inputs)
        if clean is not None:
            batch = decide_validated(self.app, clean, explain=explain)
        else:
            batch = decide_batch(self.app, frame_from_records(rows, inputs), explain=explain)
        lineage = [self._lineage(owner) for owner in owners]
        recorded = record_batch(self.app, batch, rows, now=self.now, lineage=lineage)
        classes = self.app.classes
        for decision, row in zip(recorded.decisions, recorded.rows, strict=True):
            index, _ = owners[row]
            self.records[index].append(decision)
            shadow = recorded.shadow.get(decision.id)
            if shadow is not None:
                self.shadow[index].append(shadow)
            item: dict[str, Any] = {
                "decision_id": decision.id,
                "entity_id": decision.entity_id,
                "score": decision.score,
                "action": decision.action,
                "status": decision.status,
                "reasons": decision.reasons or [],
                "model_version": decision.model_version,
            }
            if classes:
                item["predicted_class"] = decision.predicted_class
            if decision.lineage is not None:
                item["lineage"] = decision.lineage
            self.items[index].append(item)
        for error in recorded.errors:
            index, position = owners[error.record or 0]
            self.errors[index].append(replace(error, record=position))
        if batch.rejects.height:
            for row, name, value in batch.rejects.select("row", "field", "value").iter_rows():
                index, position = owners[row - 1]
                self.values[(index, position, name)] = value

    def _lineage(self, owner: tuple[int, int]) -> dict[str, Any] | None:
        """A record's lineage: its feature lookups', and its request's (a stream's)."""
        looked_up, own = self.lineage.get(owner), self.requests[owner[0]].lineage
        if own is None:
            return looked_up
        return {**(looked_up or {}), **own}

    def rejects(self, index: int) -> list[RejectRecord]:
        """The refused records of request ``index``, as the store keeps them."""
        errors = self.errors[index]
        if not errors:
            return []
        request = self.requests[index]
        name = request.record_name or f"api:{new_id()}"
        values = self.values
        found = (
            (e.record, e.entity_id, e.field, e.rule, values.get((index, e.record or 0, e.field)))
            for e in errors
        )
        with_messages = ((*parts, e.message) for parts, e in zip(found, errors, strict=True))
        return kept_rejects(
            self.app,
            with_messages,
            source=request.source,
            at=self.now,
            record_of=lambda position, _: f"{name}:{position}",
        )

    def finish(self, index: int, request: OnlineRequest) -> RecordRequest | DoorstepError:
        failure = self.failed.get(index)
        if failure is not None:
            return failure
        errors = self.errors[index]
        if request.single:
            if errors:
                rules = {e.rule for e in errors}
                if rules == {"entity_unknown"}:
                    return EntityNotFoundError(
                        "The record cannot be decided: " + errors[0].message, errors
                    )
                if rules == {"entity_ambiguous"}:
                    return EntityAmbiguousError(
                        "The record cannot be decided: " + errors[0].message, errors
                    )
                if rules == {"stale"}:
                    return FeaturesStaleError(
                        "The record cannot be decided: " + "; ".join(e.message for e in errors),
                        errors,
                    )
                return RecordsInvalidError(
                    "The record breaks the input contract: " + "; ".join(e.message for e in errors),
                    errors,
                )
            body = encode_json(self.items[index][0])
        else:
            errors.sort(key=lambda e: e.record or 0)
            body = encode_json({"decisions": self.items[index], "errors": errors})
        decisions, shadow = self.records[index], self.shadow[index]
        if request.decided_at is None:
            deliveries = deliveries_for(self.app, decisions)
        else:  # a backfill: as made then, never delivered, no shadow beside it
            mark = {"api": request.actor, "decided_at": request.decided_at.isoformat()}
            decisions = [as_backfilled(d, request.decided_at, mark) for d in decisions]
            deliveries, shadow = [], []
        return RecordRequest(
            decisions=decisions,
            idempotency_key=stored_key(request.key_owner, request.idempotency_key),
            body_sha256=request.body_sha256,
            response=body,
            app=self.app.name,
            deliveries=deliveries,
            shadow=shadow,
            rejects=self.rejects(index),
        )

    def count(self, index: int, tally: DecisionTally, *, decided: bool) -> None:
        if decided:
            for record in self.records[index]:
                tally.actions[record.action] += 1
                tally.pending_review += record.status == "pending_review"
        tally.rejected += len({e.record for e in self.errors[index]})


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
