"""``Store``: the decision service's store on SQLite or PostgreSQL (see ``contract.py``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from doorstep.errors import ConflictError, NotFoundError, StoreError
from doorstep.ids import new_id
from doorstep.store import activity as _activity
from doorstep.store import alerts as _alerts
from doorstep.store import anchors as _anchors
from doorstep.store import audit as _audit
from doorstep.store import challengers as _challengers
from doorstep.store import decisions as _decisions
from doorstep.store import keys as _keys
from doorstep.store import labelled as _labelled
from doorstep.store import leases as _leases
from doorstep.store import outbox as _outbox
from doorstep.store import outbox_operations as _deliveries
from doorstep.store import outcomes as _outcomes
from doorstep.store import queue as _queue
from doorstep.store import rejects as _rejects
from doorstep.store import replay as _replay
from doorstep.store import runs as _runs
from doorstep.store import sessions as _sessions
from doorstep.store import shadow as _shadow
from doorstep.store import streams as _streams
from doorstep.store import undo as _undo
from doorstep.store import versions as _versions
from doorstep.store import window_inputs as _window_inputs
from doorstep.store.audit import AuditWriter
from doorstep.store.engine import (
    DEFAULT_BUSY_TIMEOUT,
    DEFAULT_POOL_SIZE,
    WRITE,
    create_store_engine,
    resolve_url,
    translate_errors,
)
from doorstep.store.feedback import FeedbackCounts, OutcomesRecorded, OutcomeWrite, WindowCounts
from doorstep.store.generation import GenerationReader, bump_generation
from doorstep.store.home import DEFAULT_HOME
from doorstep.store.migrate import upgrade
from doorstep.store.protocols import (
    ApiKey,
    AttemptResult,
    AuditReport,
    ClaimedDelivery,
    ConnectorState,
    DecisionPage,
    DecisionQuery,
    DeliveryChanges,
    DeliveryPage,
    DeliveryQuery,
    FinishRequest,
    RecordOutcome,
    RecordRequest,
    Role,
    StoreContract,
    Verdict,
)
from doorstep.store.shadow_records import ShadowDecision, VersionCounts
from doorstep.store.tables import UTCDateTime, api_keys
from doorstep.store.verify import verify_chain
from doorstep.store.verify_subjects import key_hash_digest
from doorstep.store.views import (
    AppActivity,
    AppEvents,
    DecisionCase,
    QueuePage,
    QueueQuery,
    ReviewClaim,
)
from doorstep.store.writer_lock import WriterLock
from doorstep.types import AuditEvent, Decision, Delivery, DeliveryState, Review

__all__ = ["Store", "open_store"]


def open_store(
    url: str | None = None,
    *,
    home: Path = DEFAULT_HOME,
    migrate: bool = True,
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    synchronous: str = "FULL",
    pool_size: int = DEFAULT_POOL_SIZE,
) -> Store:
    """Open the store at ``url``, else ``DOORSTEP_DATABASE_URL``, else
    ``sqlite:///<home>/doorstep.db``, and apply pending migrations. ``pool_size``: connections
    kept open (as many more for a burst; see :func:`create_store_engine`)."""
    resolved = resolve_url(url, home)
    engine = create_store_engine(
        resolved, busy_timeout=busy_timeout, synchronous=synchronous, pool_size=pool_size
    )
    try:
        if migrate:
            upgrade(engine)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine, busy_timeout=busy_timeout)


class Store:
    """Implements :class:`doorstep.store.protocols.StoreContract`. Thread-safe: one per process,
    shared by all requests; every method runs in its own transaction."""

    def __init__(self, engine: sa.Engine, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=True)
        self.dialect = engine.dialect.name
        # SQLite takes one writer at a time: writers queue on a lock that hands over promptly
        # (see writer_lock.py) instead of SQLite's busy handler, which sleeps up to 100 ms.
        self._writer: AbstractContextManager[Any] = nullcontext()
        if self.dialect == "sqlite":
            self._writer = WriterLock(_lock_path(engine.url), timeout=busy_timeout)
        self._generation = GenerationReader(engine)
        self._stages = GenerationReader(engine, query=_versions.STAGE_GENERATION)

    def close(self) -> None:
        if isinstance(self._writer, WriterLock):
            self._writer.close()
        self._generation.close()
        self._stages.close()
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    @contextmanager
    def _write(self) -> Iterator[tuple[sa.Connection, AuditWriter]]:
        with self._writer, translate_errors(), self.engine.connect() as conn:
            conn = conn.execution_options(**{WRITE: True})
            with conn.begin():
                audit = AuditWriter(conn)
                yield conn, audit
                audit.flush()

    @contextmanager
    def _write_plain(self) -> Iterator[sa.Connection]:
        """A write transaction that appends no audit event, so it does not queue behind the
        audit chain's lock (claims and attempts are operational, not audited state)."""
        with self._writer, translate_errors(), self.engine.connect() as conn:
            conn = conn.execution_options(**{WRITE: True})
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with translate_errors(), self.engine.connect() as conn, conn.begin():
            yield conn

    # decisions and reviews

    def record(
        self, requests: list[RecordRequest], *, actor: str, one_event: bool = False
    ) -> list[RecordOutcome]:
        if not requests:
            return []
        with self._write() as (conn, audit):
            return _decisions.record(conn, audit, requests, actor, one_event=one_event)

    def get_decision(self, decision_id: str) -> Decision | None:
        with self._read() as conn:
            return _decisions.get_decision(conn, decision_id)

    def list_decisions(self, query: DecisionQuery) -> DecisionPage:
        with self._read() as conn:
            return _decisions.list_decisions(conn, query)

    def review(self, verdict: Verdict) -> Decision:
        with self._write() as (conn, audit):
            return _decisions.review(conn, audit, verdict)

    def undo_review(self, decision_id: str, actor: str, *, now: datetime) -> Decision:
        with self._write() as (conn, audit):
            _undo.undo_review(conn, audit, decision_id, actor, now)
            record = _decisions.get_decision(conn, decision_id)
        assert record is not None
        return record

    # the review queue and its claims (pages)

    def review_queue(self, query: QueueQuery, *, now: datetime) -> QueuePage:
        with self._read() as conn:
            return _queue.queue(conn, query, now)

    def claim_review(
        self, decision_id: str, key_id: str, actor: str, *, seconds: float, now: datetime
    ) -> ReviewClaim:
        expires = now + timedelta(seconds=seconds)
        with self._write_plain() as conn:
            return _queue.claim(conn, decision_id, key_id, actor, expires, now)

    def review_claim(self, decision_id: str, *, now: datetime) -> ReviewClaim | None:
        with self._read() as conn:
            return _queue.live_claims(conn, [decision_id], now).get(decision_id)

    def release_review(self, decision_id: str, key_id: str, *, now: datetime) -> bool:
        with self._write_plain() as conn:
            return _queue.release(conn, decision_id, key_id, now)

    def skip_review(self, decision_id: str, key_id: str, actor: str, *, now: datetime) -> bool:
        with self._write() as (conn, audit):
            return _queue.skip(conn, audit, decision_id, key_id, actor, now)

    def decision_audit(self, decision_id: str) -> list[AuditEvent]:
        with self._read() as conn:
            return _activity.decision_audit(conn, decision_id)

    def app_audit(self, app: str, *, kind_prefix: str, limit: int = 500) -> list[AuditEvent]:
        with self._read() as conn:
            return _activity.app_audit(conn, app, kind_prefix, limit)

    def app_activity(self, app: str, *, days: int, now: datetime) -> AppActivity:
        with self._read() as conn:
            return _activity.app_activity(conn, app, days, now)

    def app_events(self, app: str, *, before: int | None = None, limit: int = 50) -> AppEvents:
        with self._read() as conn:
            return _activity.app_events(conn, app, before=before, limit=limit)

    def decision_case(self, decision_id: str, *, now: datetime) -> DecisionCase | None:
        with self._read() as conn:
            return _activity.decision_case(conn, decision_id, now)

    def get_review(self, decision_id: str) -> Review | None:
        with self._read() as conn:
            return _activity.review_of(conn, decision_id)

    # the outbox (deliveries)

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
        return self.finish_and_claim_deliveries(
            [], worker, limit, lease_seconds, apps=apps, now=now, exclude=exclude
        )[1]

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
        at = now or datetime.now(UTC)
        with self._write_plain() as conn:
            applied = _outbox.finish_many(conn, finished, at)
            leases = _outbox.claim(conn, worker, limit, lease_seconds, apps, at, exclude)
        if not leases:
            return applied, []
        with self._read() as conn:  # after the commit: the writer lock is free for others
            return applied, _outbox.with_decisions(conn, leases)

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
        with self._write_plain() as conn:
            return _outbox.finish(
                conn,
                delivery_id,
                lease_token,
                result,
                next_attempt_at,
                final_state,
                now or datetime.now(UTC),
            )

    def finish_deliveries(
        self, requests: list[FinishRequest], *, now: datetime | None = None
    ) -> list[bool]:
        if not requests:
            return []
        with self._write_plain() as conn:
            return _outbox.finish_many(conn, requests, now or datetime.now(UTC))

    def list_deliveries(self, query: DeliveryQuery) -> DeliveryPage:
        with self._read() as conn:
            return _deliveries.list_deliveries(conn, query)

    def get_delivery(self, delivery_id: str) -> Delivery | None:
        with self._read() as conn:
            return _deliveries.get_delivery(conn, delivery_id)

    def retry_deliveries(
        self, ids: list[str], *, actor: str, reason: str | None = None
    ) -> DeliveryChanges:
        with self._write() as (conn, audit):
            return _deliveries.retry(conn, audit, ids, actor, datetime.now(UTC), reason)

    def cancel_deliveries(
        self, ids: list[str], *, actor: str, reason: str | None = None
    ) -> DeliveryChanges:
        with self._write() as (conn, audit):
            return _deliveries.cancel(conn, audit, ids, actor, datetime.now(UTC), reason)

    def disable_connector(self, app: str, connector: str, detail: str, *, actor: str) -> bool:
        with self._write() as (conn, audit):
            return _deliveries.disable_connector(
                conn, audit, app, connector, detail, actor, datetime.now(UTC)
            )

    def enable_connector(self, app: str, connector: str, *, actor: str) -> bool:
        with self._write() as (conn, audit):
            return _deliveries.enable_connector(
                conn, audit, app, connector, actor, datetime.now(UTC)
            )

    def disabled_connectors(self, app: str | None = None) -> list[ConnectorState]:
        with self._read() as conn:
            return _deliveries.disabled_connectors(conn, app)

    def delivery_counts(self, app: str | None = None) -> dict[str, int]:
        with self._read() as conn:
            return _deliveries.counts(conn, app)

    # outcomes: what happened after decisions (monitoring, training data)

    def record_outcomes(self, write: OutcomeWrite, *, actor: str) -> OutcomesRecorded:
        with self._write() as (conn, audit):
            return _outcomes.record_outcomes(conn, audit, write, actor, datetime.now(UTC))

    def iter_labelled(
        self,
        app: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        chunk_rows: int = 10_000,
    ) -> Iterator[list[Any]]:
        with self._read() as conn:
            yield from _labelled.iter_labelled(conn, app, since, until, chunk_rows)

    def iter_training_rows(
        self,
        app: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        labelled_only: bool = False,
        chunk_rows: int = 10_000,
    ) -> Iterator[list[Any]]:
        with self._read() as conn:
            yield from _labelled.iter_training_rows(
                conn, app, since, until, labelled_only=labelled_only, chunk_rows=chunk_rows
            )

    def feedback_counts(
        self, app: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> FeedbackCounts:
        with self._read() as conn:
            return _labelled.feedback_counts(conn, app, since, until)

    def window_counts(
        self, app: str, *, since: datetime, until: datetime, step_seconds: int
    ) -> list[WindowCounts]:
        with self._read() as conn:
            return _labelled.window_counts(conn, app, since, until, step_seconds)

    def window_counts_between(self, app: str, *, edges: list[datetime]) -> list[WindowCounts]:
        with self._read() as conn:
            return _labelled.window_counts_between(conn, app, edges)

    def reject_counts(self, app: str, *, edges: list[datetime]) -> list[_rejects.RejectCount]:
        with self._read() as conn:
            return _rejects.reject_counts(conn, app, edges)

    def record_rejects(self, rejects: list[_rejects.RejectRecord]) -> None:
        if rejects:
            with self._write_plain() as conn:
                _rejects.insert_rejects(conn, rejects)

    def report_stream_consumer(self, report: _streams.ConsumerReport) -> None:
        with self._write_plain() as conn:
            _streams.report_consumer(conn, report)

    def list_streams(self, *, now: datetime | None = None) -> list[_streams.StreamSummary]:
        with self._read() as conn:
            return _streams.list_streams(conn, now or datetime.now(UTC))

    def row_window_edges(self, app: str, *, rows: int) -> list[datetime]:
        with self._read() as conn:
            return _labelled.row_window_edges(conn, app, rows)

    def iter_window_inputs(
        self,
        app: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        chunk_rows: int = 10_000,
    ) -> Iterator[list[tuple[Any, ...]]]:
        yield from _window_inputs.iter_window_inputs(self._read, app, since, until, chunk_rows)

    # shadow decisions: what a shadow version decided beside each decision (see shadow.py)

    def record_shadow(self, rows: Sequence[ShadowDecision]) -> int:
        if not rows:
            return 0
        with self._write_plain() as conn:
            return _shadow.insert_shadow(conn, rows)

    def iter_shadow(
        self,
        app: str,
        model_version: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        chunk_rows: int = 10_000,
    ) -> Iterator[list[ShadowDecision]]:
        yield from _shadow.iter_shadow(self._read, app, model_version, since, until, chunk_rows)

    def iter_version_labelled(
        self,
        app: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        chunk_rows: int = 10_000,
    ) -> Iterator[list[Any]]:
        with self._read() as conn:
            yield from _challengers.iter_version_labelled(conn, app, since, until, chunk_rows)

    def iter_shadow_labelled(
        self,
        app: str,
        model_version: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        chunk_rows: int = 10_000,
    ) -> Iterator[list[Any]]:
        with self._read() as conn:
            yield from _challengers.iter_shadow_labelled(
                conn, app, model_version, since, until, chunk_rows
            )

    def iter_replay(
        self,
        app: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        chunk_rows: int = 10_000,
    ) -> Iterator[list[tuple[Any, ...]]]:
        yield from _replay.iter_replay(self._read, app, since, until, chunk_rows)

    def version_counts(
        self, app: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[VersionCounts]:
        with self._read() as conn:
            return _challengers.version_counts(conn, app, since, until)

    def shadow_counts(
        self, app: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[VersionCounts]:
        with self._read() as conn:
            return _challengers.shadow_counts(conn, app, since, until)

    # batch runs from feature sources, and the scheduler's lease (see runs.py)

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
    ) -> _runs.RunLease | None:
        """Start a run held by ``runner``; ``None`` when the scheduled slot has one already.
        ``options`` (JSON) say how it runs, for a resume."""
        with self._write_plain() as conn:
            return _runs.start_run(
                conn,
                run_id=new_id(),
                app=app,
                schedule=schedule,
                slot=slot,
                source=source,
                runner=runner,
                lease_seconds=lease_seconds,
                now=now or datetime.now(UTC),
                options=options,
            )

    def reopen_run(self, run_id: str, *, actor: str, now: datetime | None = None) -> bool:
        """Make a failed run resumable (running, its lease expired): the next runner to take it
        over goes on after its checkpoint. ``True`` too for a running run whose runner died;
        ``False`` for a run that succeeded, was skipped or is held. Audited (``runs.resumed``,
        by ``actor``)."""
        with self._write() as (conn, audit):
            before = _runs.reopen(conn, run_id, now or datetime.now(UTC))
            if before is None:
                return False
            payload = {
                "app": before.app,
                "schedule": before.schedule,
                "slot": None if before.slot is None else before.slot.isoformat(),
                "state": before.state,
                "checkpoint": before.checkpoint,
                "error": before.error,
            }
            audit.append("runs.resumed", run_id, payload, actor=actor)
            return True

    def skip_slot(
        self,
        app: str,
        source: str,
        *,
        schedule: str,
        slot: datetime,
        reason: str,
        now: datetime | None = None,
    ) -> _runs.RunInfo | None:
        """Record a scheduled slot that will not run (``skipped``, with ``reason``); ``None``
        when the slot has a run already."""
        with self._write_plain() as conn:
            return _runs.skip_slot(
                conn,
                run_id=new_id(),
                app=app,
                schedule=schedule,
                slot=slot,
                source=source,
                reason=reason,
                now=now or datetime.now(UTC),
            )

    def last_slot(self, app: str, schedule: str) -> datetime | None:
        """The latest slot of ``schedule`` with a run, whatever its state."""
        with self._read() as conn:
            return _runs.last_slot(conn, app, schedule)

    def expired_runs(self, *, now: datetime | None = None) -> list[_runs.RunInfo]:
        with self._read() as conn:
            return _runs.expired_runs(conn, now or datetime.now(UTC))

    def take_over_run(
        self, run_id: str, *, runner: str, lease_seconds: float, now: datetime | None = None
    ) -> _runs.RunLease | None:
        with self._write_plain() as conn:
            return _runs.take_over(conn, run_id, runner, lease_seconds, now or datetime.now(UTC))

    def record_run_chunk(
        self,
        lease: _runs.RunLease,
        requests: list[RecordRequest],
        progress: _runs.ChunkProgress,
        *,
        lease_seconds: float,
        actor: str,
    ) -> None:
        """Record a chunk's decisions (and deliveries) and move the run's checkpoint in ONE
        transaction, only while ``lease`` still holds the run (else ``ConflictError``, and
        nothing is written). Decisions whose ids the store holds already (a run's ids are
        derived from the run and the entity: a chunk decided again) are left out, with their
        deliveries and counts: recording a chunk twice records it once."""
        with self._write() as (conn, audit):
            known = _runs.recorded_ids(conn, [i for r in requests for i in r.decision_ids()])
            if known:
                requests, progress = _runs.without_recorded(requests, progress, known)
            held = _runs.commit_chunk(
                conn, lease.run.id, lease.token, progress, lease_seconds, datetime.now(UTC)
            )
            if not held:
                raise ConflictError(
                    f"Run {lease.run.id} is no longer held by this runner (its lease expired "
                    "and another runner took it over); this chunk was not recorded."
                )
            kept = [r for r in requests if r.decision_count() or r.rejects]
            _decisions.record(conn, audit, kept, actor)

    def finish_run(self, lease: _runs.RunLease, state: _runs.RunState, error: str | None) -> bool:
        with self._write_plain() as conn:
            return _runs.finish_run(
                conn, lease.run.id, lease.token, state, error, datetime.now(UTC)
            )

    def get_run(self, run_id: str) -> _runs.RunInfo | None:
        with self._read() as conn:
            return _runs.get_run(conn, run_id)

    def list_runs(self, query: _runs.RunQuery) -> _runs.RunPage:
        with self._read() as conn:
            return _runs.list_runs(conn, query)

    def acquire_lease(
        self, name: str, holder: str, seconds: float, *, now: datetime | None = None
    ) -> bool:
        """Take or renew the named lease (the scheduler's: one runner across all servers)."""
        with self._write_plain() as conn:
            return _leases.acquire_lease(conn, name, holder, seconds, now or datetime.now(UTC))

    def release_lease(self, name: str, holder: str) -> None:
        with self._write_plain() as conn:
            _leases.release_lease(conn, name, holder, datetime.now(UTC))

    def lease_holders(self, prefix: str, *, now: datetime | None = None) -> dict[str, str]:
        """The unexpired leases whose name starts with ``prefix``: name -> holder."""
        with self._read() as conn:
            return _leases.lease_holders(conn, prefix, now or datetime.now(UTC))

    # alerts (see alerts.py)

    def alert_states(self, app: str) -> dict[str, _alerts.AlertState]:
        with self._read() as conn:
            return _alerts.read_states(conn, app)

    def apply_alert_transitions(
        self,
        transitions: list[_alerts.AlertTransition],
        run: tuple[str, str, dict[str, Any]] | None,
        *,
        actor: str,
        now: datetime | None = None,
    ) -> list[_alerts.AlertTransition]:
        """Apply the transitions still valid, with their messages and audit events, and the
        monitor run's own event ``run`` (kind, subject, payload), in one transaction."""
        at = now or datetime.now(UTC)
        with self._write() as (conn, audit):
            applied = _alerts.apply_transitions(conn, audit, transitions, actor, at)
            if run is not None:
                kind, subject, payload = run
                payload = {**payload, "transitions": [f"{t.event}:{t.subject}" for t in applied]}
                audit.append(kind, subject, payload, actor=actor, at=at)
            return applied

    # model versions, their stages and promotions (see versions.py)

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
        stage: _versions.Stage | None = None,
        reason: str = "registered",
    ) -> bool:
        now = datetime.now(UTC)
        row = _versions.VersionRow(
            app, version, content_hash, owner, "candidate", now, notes, actor, path, reference, None
        )
        try:
            return self._register_version(row, stage, reason, actor=actor)
        except StoreError as error:
            if not isinstance(error.__cause__, sa.exc.IntegrityError):
                raise
        # another process registered it between the check and the insert (serve --workers N
        # starting at once): the same file is no news, another one is the usual refusal
        with self._read() as conn:
            found = [v for v in _versions.versions_of(conn, app) if v.version == version]
        if found and found[0].content_hash == content_hash:
            return False
        return self._register_version(row, stage, reason, actor=actor)

    def _register_version(
        self,
        row: _versions.VersionRow,
        stage: _versions.Stage | None,
        reason: str,
        *,
        actor: str,
    ) -> bool:
        app, version, now = row.app, row.version, row.registered_at
        with self._write() as (conn, audit):
            if not _versions.insert_version(conn, audit, row, actor=actor):
                return False
            if stage is not None and stage != "candidate":
                changes = [_versions.StageChange(version, stage)]
                if stage == "champion":
                    changes = [
                        *(
                            _versions.StageChange(v.version, "retired")
                            for v in _versions.versions_of(conn, app)
                            if v.stage == "champion"
                        ),
                        *changes,
                    ]
                _versions.apply_changes(
                    conn, audit, app, changes, actor=actor, reason=reason, at=now, expect=None
                )
            return True

    def model_versions(self, app: str | None = None) -> list[dict[str, Any]]:
        with self._read() as conn:
            return [row.as_dict() for row in _versions.versions_of(conn, app)]

    def model_stages(self, app: str) -> tuple[list[dict[str, Any]], int]:
        with self._read() as conn:
            rows = [row.as_dict() for row in _versions.versions_of(conn, app)]
            return rows, _versions.app_generation(conn, app)

    def stage_generation(self) -> int:
        return self._stages.read()

    def change_model_stages(
        self,
        app: str,
        changes: Sequence[_versions.StageChange],
        *,
        actor: str,
        reason: str,
        expect: int | None,
    ) -> None:
        with self._write() as (conn, audit):
            _versions.apply_changes(
                conn,
                audit,
                app,
                changes,
                actor=actor,
                reason=reason,
                at=datetime.now(UTC),
                expect=expect,
            )

    def model_stage_history(self, app: str) -> list[dict[str, Any]]:
        with self._read() as conn:
            return _versions.stage_history(conn, app)

    def model_promotions(self, app: str, *, state: str | None = None) -> list[dict[str, Any]]:
        with self._read() as conn:
            return _versions.promotions(conn, app, state=state)

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
        with self._write() as (conn, audit):
            return _versions.request_promotion(
                conn,
                audit,
                app,
                version,
                required=required,
                actor=actor,
                key_id=key_id,
                reason=reason,
                at=datetime.now(UTC),
            )

    def approve_model_promotion(
        self,
        promotion: dict[str, Any],
        *,
        actor: str,
        key_id: str | None,
        reason: str,
        changes: Sequence[_versions.StageChange],
        expect: int | None,
    ) -> None:
        now = datetime.now(UTC)
        with self._write() as (conn, audit):
            _versions.approve(
                conn, audit, promotion, actor=actor, key_id=key_id, reason=reason, at=now
            )
            if changes:
                _versions.close_promotion(
                    conn, audit, promotion, "approved", actor=actor, reason=reason, at=now
                )
                _versions.apply_changes(
                    conn,
                    audit,
                    promotion["app"],
                    changes,
                    actor=actor,
                    reason=f"promotion {promotion['id']}: {promotion['reason']}",
                    at=now,
                    expect=expect,
                )

    def withdraw_model_promotion(
        self, promotion: dict[str, Any], *, actor: str, reason: str
    ) -> None:
        with self._write() as (conn, audit):
            _versions.close_promotion(
                conn,
                audit,
                promotion,
                "withdrawn",
                actor=actor,
                reason=reason,
                at=datetime.now(UTC),
            )

    # API keys

    def create_key(self, name: str, role: Role, *, actor: str) -> tuple[ApiKey, str]:
        role = _keys.check_role(role)
        secret = _keys.generate_secret()
        key = ApiKey(
            id=new_id(),
            name=name,
            role=role,
            prefix=secret[: _keys.PREFIX_LENGTH],
            created_at=datetime.now(UTC),
            created_by=actor,
        )
        key_hash = _keys.hash_secret(secret)
        with self._write() as (conn, audit):
            conn.execute(
                api_keys.insert().values(
                    id=key.id,
                    name=name,
                    role=role,
                    prefix=key.prefix,
                    key_hash=key_hash,
                    created_at=key.created_at,
                    created_by=actor,
                )
            )
            audit.append(
                "key.created",
                key.id,
                {
                    "id": key.id,
                    "name": name,
                    "role": role,
                    "prefix": key.prefix,
                    "key_hash_digest": key_hash_digest(key_hash),
                },
                actor=actor,
                at=key.created_at,
            )
        return key, secret

    def authenticate(self, secret: str) -> ApiKey | None:
        if not secret.startswith(_keys.KEY_PREFIX):
            return None
        with self._read() as conn:
            row = conn.execute(
                sa.select(api_keys).where(api_keys.c.key_hash == _keys.hash_secret(secret))
            ).first()
        if row is None or not _keys.matches(row.key_hash, secret) or row.revoked_at is not None:
            return None
        return _keys.key_from_row(row)

    def list_keys(self) -> list[ApiKey]:
        with self._read() as conn:
            rows = conn.execute(sa.select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id))
            return [_keys.key_from_row(row) for row in rows]

    def get_key(self, key_id: str) -> ApiKey | None:
        with self._read() as conn:
            row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).first()
            return _keys.key_from_row(row) if row is not None else None

    def revoke_key(self, key_id: str, *, actor: str) -> ApiKey:
        """Revoke a key (idempotent: revoking a revoked key changes nothing)."""
        with self._write() as (conn, audit):
            row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).first()
            if row is None:
                raise NotFoundError(f"No API key {key_id!r}; `doorstep keys list` shows the ids.")
            if row.revoked_at is not None:
                return _keys.key_from_row(row)
            now = datetime.now(UTC)
            conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(revoked_at=now))
            _sessions.end_for_key(conn, key_id)
            bump_generation(conn)
            audit.append(
                "key.revoked",
                key_id,
                {"id": key_id, "name": row.name, "role": row.role, "prefix": row.prefix},
                actor=actor,
                at=now,
            )
            return dataclasses.replace(_keys.key_from_row(row), revoked_at=now)

    def change_key_role(self, key_id: str, role: Role, *, actor: str) -> ApiKey:
        """Give a key another role and end its page sessions (idempotent: the same role changes
        nothing). A revoked key keeps its role."""
        role = _keys.check_role(role)
        with self._write() as (conn, audit):
            row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).first()
            if row is None:
                raise NotFoundError(f"No API key {key_id!r}; `doorstep keys list` shows the ids.")
            if row.revoked_at is not None:
                raise ConflictError(f"API key {key_id!r} is revoked; its role cannot change.")
            if row.role == role:
                return _keys.key_from_row(row)
            conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(role=role))
            _sessions.end_for_key(conn, key_id)
            bump_generation(conn)
            audit.append(
                "key.role_changed",
                key_id,
                {"id": key_id, "name": row.name, "from": row.role, "role": role},
                actor=actor,
            )
            return dataclasses.replace(_keys.key_from_row(row), role=role)

    def key_generation(self) -> int:
        """Bumped by every revocation and role change (store/generation.py); microseconds."""
        return self._generation.read()

    # the pages' sessions (store/sessions.py)

    def start_session(self, key_id: str, *, expires_at: datetime) -> str | None:
        with self._write_plain() as conn:
            return _sessions.start(conn, key_id, datetime.now(UTC), expires_at)

    def session_key(self, token: str, *, now: datetime) -> ApiKey | None:
        with self._read() as conn:
            return _sessions.live_key(conn, token, now)

    def end_session(self, token: str) -> bool:
        with self._write_plain() as conn:
            return _sessions.end(conn, token)

    def count_keys(self) -> int:
        with self._read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(api_keys)).scalar_one())

    def touch_keys(self, used: dict[str, datetime]) -> None:
        if not used:
            return
        at = sa.bindparam("at", type_=UTCDateTime())
        statement = (
            api_keys.update()
            .where(
                api_keys.c.id == sa.bindparam("key_id"),
                sa.or_(api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at < at),
            )
            .values(last_used_at=at)
        )
        with self._write_plain() as conn:
            conn.execute(statement, [{"key_id": k, "at": t} for k, t in sorted(used.items())])

    # audit

    def append_audit(self, kind: str, subject: str, payload: dict[str, Any], *, actor: str) -> int:
        with self._write() as (_conn, audit):
            return audit.append(kind, subject, payload, actor=actor)

    def verify_audit(self, *, page_size: int = 1000) -> AuditReport:
        with translate_errors(), self.engine.connect() as conn:
            if self.dialect == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                return verify_chain(conn, page_size=page_size)

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
        with self._write() as (conn, audit):
            return _anchors.record_anchor(
                conn,
                audit,
                app=app,
                key=key,
                head=head,
                connector=connector,
                message=message,
                actor=actor,
                now=now or datetime.now(UTC),
            )

    def audit_head(self) -> tuple[int, str] | None:
        with self._read() as conn:
            return _audit.head(conn)

    def audit_hash(self, seq: int) -> str | None:
        with self._read() as conn:
            return _audit.hash_of(conn, seq)

    def ping(self) -> None:
        """Take (and release) the write lock on SQLite, or run ``SELECT 1`` on PostgreSQL."""
        with translate_errors(), self.engine.connect() as conn:
            conn = conn.execution_options(**{WRITE: True})
            with conn.begin() as transaction:
                conn.execute(sa.text("SELECT 1"))
                transaction.rollback()


def _lock_path(url: sa.URL) -> Path | None:
    """The writer lock file beside a SQLite database file; ``None`` in memory."""
    database = url.database or ""
    if database in {"", ":memory:"} or database.startswith("file:"):
        return None
    return Path(database).with_name(Path(database).name + "-writer.lock")


if TYPE_CHECKING:

    def _implements_the_contract(store: Store) -> StoreContract:
        return store  # mypy: Store has every method of every protocol, with the same signature
