"""A small in-memory :class:`~doorstep.store.protocols.StoreContract`, for tests that need no
database (the main web tests run against the real store).

The fake implements part of the contract: each method it has is marked ``@implements`` with the
contract's method, so mypy checks that the two signatures agree; :func:`as_store` hands it to
code that expects a whole store."""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from doorstep.errors import NotFoundError, ReviewConflictError, StoreError, StoreUnavailableError
from doorstep.ids import new_id
from doorstep.store.protocols import (
    ApiKey,
    AuditReport,
    ConnectorState,
    DecisionPage,
    DecisionQuery,
    DeliveryPage,
    DeliveryQuery,
    RecordOutcome,
    RecordRequest,
    Role,
    Stage,
    StoreContract,
    Verdict,
)
from doorstep.types import DELIVERY_STATES, Decision, DecisionStatus, Delivery

_P = ParamSpec("_P")
_R = TypeVar("_R")


def implements(
    method: Callable[Concatenate[StoreContract, _P], _R],
) -> Callable[[Callable[Concatenate[FakeStore, _P], _R]], Callable[Concatenate[FakeStore, _P], _R]]:
    """Mark a method of the fake as ``method`` of the contract: mypy refuses the fake's method
    when its parameters or its result do not fit the contract's (e.g. after the contract
    changed). Nothing happens at run time."""
    return lambda implementation: implementation


def as_store(fake: FakeStore) -> StoreContract:
    """The fake where a whole :class:`StoreContract` is expected (``create_app``).

    A cast, the only one: the fake lacks most of the contract (outcomes, runs, alerts…), so
    it is not a ``StoreContract`` to mypy, and calling a method it lacks fails at run time
    (``AttributeError``, or ``NotImplementedError`` for the dispatcher's). What it has is
    checked method by method by :func:`implements`."""
    return cast(StoreContract, fake)


class FakeStore:
    url: str = "memory://"
    dialect: str = "memory"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.decisions: dict[str, Decision] = {}
        self.deliveries: dict[str, Delivery] = {}
        self.idempotency: dict[str, tuple[str | None, bytes | None]] = {}
        self.keys: dict[str, tuple[ApiKey, str]] = {}
        self.generation = 0
        self.versions: list[dict[str, Any]] = []
        self.audit: list[tuple[str, str, dict[str, Any], str]] = []
        self.available = True
        self.record_calls = 0
        self.rejects: list[Any] = []

    def _check(self) -> None:
        if not self.available:
            raise StoreUnavailableError("the fake store is down")

    @implements(StoreContract.record_rejects)
    def record_rejects(self, rejects: list[Any]) -> None:
        self._check()
        with self.lock:
            self.rejects += rejects

    @implements(StoreContract.record)
    def record(
        self, requests: list[RecordRequest], *, actor: str, one_event: bool = False
    ) -> list[RecordOutcome]:
        self._check()
        with self.lock:
            self.record_calls += 1
            outcomes = []
            for request in requests:
                key = request.idempotency_key
                if key is not None and key in self.idempotency:
                    digest, response = self.idempotency[key]
                    if digest == request.body_sha256:
                        outcomes.append(RecordOutcome("replayed", response))
                    else:
                        outcomes.append(RecordOutcome("conflict"))
                    continue
                if key is not None:
                    self.idempotency[key] = (request.body_sha256, request.response)
                for decision in request.decisions:
                    self.decisions[decision.id] = decision
                for d in request.deliveries:
                    self.deliveries[d.id] = Delivery(
                        d.id, d.decision_id, d.app, d.action, d.connector, d.key, d.state, 0,
                        d.next_attempt_at or d.created_at, None, None, None, d.created_at,
                        d.created_at, None,
                    )  # fmt: skip
                self.audit.append(("decisions.recorded", "", {"n": len(request.decisions)}, actor))
                outcomes.append(RecordOutcome("recorded"))
            return outcomes

    @implements(StoreContract.get_decision)
    def get_decision(self, decision_id: str) -> Decision | None:
        self._check()
        return self.decisions.get(decision_id)

    @implements(StoreContract.list_decisions)
    def list_decisions(self, query: DecisionQuery) -> DecisionPage:
        self._check()
        rows = sorted(
            (
                d
                for d in self.decisions.values()
                if d.app == query.app
                and (query.entity_id is None or d.entity_id == query.entity_id)
                and (query.action is None or d.action == query.action)
                and (query.status is None or d.status == query.status)
                and (query.since is None or d.created_at >= query.since)
                and (query.until is None or d.created_at < query.until)
                and (query.cursor is None or d.id < query.cursor)
            ),
            key=lambda d: d.id,
            reverse=True,
        )
        page = rows[: query.limit]
        more = len(rows) > query.limit
        return DecisionPage(page, page[-1].id if more and page else None)

    @implements(StoreContract.review)
    def review(self, verdict: Verdict) -> Decision:
        self._check()
        with self.lock:
            record = self.decisions.get(verdict.decision_id)
            if record is None:
                raise NotFoundError(f"no decision {verdict.decision_id}")
            if record.status != "pending_review":
                raise ReviewConflictError(f"decision {record.id} is {record.status}")
            approved = verdict.verdict == "approve"
            updated = replace(
                record,
                status=DecisionStatus.APPROVED if approved else DecisionStatus.OVERRIDDEN,
                final_action=record.action if approved else verdict.action,
            )
            self.decisions[record.id] = updated
            return updated

    # the outbox: what the API reads (the dispatcher and the operators' changes need a real store)

    @implements(StoreContract.list_deliveries)
    def list_deliveries(self, query: DeliveryQuery) -> DeliveryPage:
        self._check()
        rows = sorted(
            (
                d
                for d in self.deliveries.values()
                if (query.app is None or d.app == query.app)
                and (query.state is None or d.state == query.state)
                and (query.connector is None or d.connector == query.connector)
                and (query.decision_id is None or d.decision_id == query.decision_id)
                and (query.cursor is None or d.id < query.cursor)
            ),
            key=lambda d: d.id,
            reverse=True,
        )
        page = rows[: query.limit]
        more = len(rows) > query.limit
        return DeliveryPage(page, page[-1].id if more and page else None)

    @implements(StoreContract.get_delivery)
    def get_delivery(self, delivery_id: str) -> Delivery | None:
        self._check()
        return self.deliveries.get(delivery_id)

    @implements(StoreContract.delivery_counts)
    def delivery_counts(self, app: str | None = None) -> dict[str, int]:
        self._check()
        states = [d.state for d in self.deliveries.values() if app is None or d.app == app]
        return {state: states.count(state) for state in DELIVERY_STATES}

    @implements(StoreContract.disabled_connectors)
    def disabled_connectors(self, app: str | None = None) -> list[ConnectorState]:
        self._check()
        return []

    def claim_deliveries(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("the fake store does not dispatch: use the `store` fixture")

    finish_delivery = finish_deliveries = retry_deliveries = cancel_deliveries = claim_deliveries
    disable_connector = enable_connector = claim_deliveries

    @implements(StoreContract.register_model_version)
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
        self._check()
        for row in self.versions:
            if row["app"] == app and row["version"] == version:
                if row["content_hash"] != content_hash:
                    raise StoreError("hash changed")
                return False
        if stage == "champion":
            for row in self.versions:
                if row["app"] == app and row["stage"] == "champion":
                    row["stage"] = "retired"
        self.versions.append(
            {
                "app": app,
                "version": version,
                "content_hash": content_hash,
                "owner": owner,
                "stage": stage or "candidate",
                "registered_at": datetime.now(UTC),
                "notes": notes,
                "registered_by": actor,
                "path": path,
                "reference": reference,
                "canary_share": None,
            }
        )
        return True

    @implements(StoreContract.stage_generation)
    def stage_generation(self) -> int:
        self._check()
        return 0  # the fake's stages change only by registering, before a server starts

    @implements(StoreContract.model_stage_history)
    def model_stage_history(self, app: str) -> list[dict[str, Any]]:
        self._check()
        return []

    @implements(StoreContract.model_versions)
    def model_versions(self, app: str | None = None) -> list[dict[str, Any]]:
        self._check()
        return [v for v in self.versions if app is None or v["app"] == app]

    @implements(StoreContract.create_key)
    def create_key(self, name: str, role: Role, *, actor: str) -> tuple[ApiKey, str]:
        self._check()
        secret = "dsk_" + secrets.token_urlsafe(24)
        key = ApiKey(new_id(), name, role, secret[:10], datetime.now(UTC), actor)
        self.keys[hashlib.sha256(secret.encode()).hexdigest()] = (key, secret)
        return key, secret

    @implements(StoreContract.authenticate)
    def authenticate(self, secret: str) -> ApiKey | None:
        self._check()
        found = self.keys.get(hashlib.sha256(secret.encode()).hexdigest())
        if found is None or found[0].revoked_at is not None:
            return None
        return found[0]

    @implements(StoreContract.touch_keys)
    def touch_keys(self, used: dict[str, datetime]) -> None:
        for digest, (key, secret) in list(self.keys.items()):
            at = used.get(key.id)
            if at is not None and (key.last_used_at is None or key.last_used_at < at):
                self.keys[digest] = (replace(key, last_used_at=at), secret)

    @implements(StoreContract.list_keys)
    def list_keys(self) -> list[ApiKey]:
        return [k for k, _ in self.keys.values()]

    @implements(StoreContract.revoke_key)
    def revoke_key(self, key_id: str, *, actor: str) -> ApiKey:
        for digest, (key, secret) in self.keys.items():
            if key.id == key_id:
                revoked = replace(key, revoked_at=datetime.now(UTC))
                self.keys[digest] = (revoked, secret)
                self.generation += 1
                return revoked
        raise NotFoundError(f"no key {key_id}")

    @implements(StoreContract.key_generation)
    def key_generation(self) -> int:
        self._check()
        return self.generation

    @implements(StoreContract.count_keys)
    def count_keys(self) -> int:
        return len(self.keys)

    @implements(StoreContract.append_audit)
    def append_audit(self, kind: str, subject: str, payload: dict[str, Any], *, actor: str) -> int:
        self._check()
        self.audit.append((kind, subject, payload, actor))
        return len(self.audit)

    @implements(StoreContract.verify_audit)
    def verify_audit(self) -> AuditReport:
        return AuditReport(ok=True, events=len(self.audit))

    @implements(StoreContract.ping)
    def ping(self) -> None:
        self._check()
