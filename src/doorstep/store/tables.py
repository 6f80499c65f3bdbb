"""The store's tables (SQLAlchemy Core). Migrations in ``migrations/versions`` create them; a
test checks that the two agree."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

__all__ = [
    "UTCDateTime",
    "alert_states",
    "api_keys",
    "audit_events",
    "connector_states",
    "decisions",
    "deliveries",
    "delivery_attempts",
    "idempotency",
    "key_generation",
    "metadata",
    "model_approvals",
    "model_promotions",
    "model_stage_changes",
    "model_versions",
    "outcomes",
    "page_sessions",
    "rejects",
    "review_claims",
    "reviews",
    "runs",
    "scheduler_leases",
    "shadow_decisions",
    "stream_consumers",
]


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timestamps in UTC. SQLite keeps them naive (as text, which sorts correctly); PostgreSQL
    as ``timestamptz``. Values read back are always timezone-aware UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        elif dialect.name != "sqlite":
            value = value.replace(tzinfo=UTC)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = sa.MetaData()

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("app", sa.String(200), nullable=False),
    sa.Column("entity_id", sa.String(200), nullable=False),
    sa.Column("model_version", sa.String(200), nullable=False),
    sa.Column("model_hash", sa.String(128), nullable=False),
    sa.Column("inputs", sa.JSON, nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("predicted_class", sa.String(200), nullable=True),
    sa.Column("action", sa.String(200), nullable=False),
    sa.Column("rule", sa.String(200), nullable=True),
    sa.Column("review", sa.Boolean, nullable=False),
    sa.Column("control", sa.Boolean, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("final_action", sa.String(200), nullable=True),
    sa.Column("reasons", sa.JSON, nullable=True),
    sa.Column("reasons_text", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("audit_seq", sa.BigInteger, nullable=True),
    sa.Column("lineage", sa.JSON, nullable=True),
    # newest first is a backward scan of (app, created_at, id): ORDER BY created_at DESC, id DESC
    sa.Index("ix_decisions_app_created", "app", "created_at", "id"),
    sa.Index("ix_decisions_app_entity", "app", "entity_id"),
    sa.Index("ix_decisions_app_status", "app", "status"),
    sa.Index("ix_decisions_app_action", "app", "action"),
    sa.Index("ix_decisions_audit_seq", "audit_seq"),
    # the review queue, oldest first or by score: partial, so only pending decisions pay for them
    sa.Index(
        "ix_decisions_pending_created",
        "app",
        "created_at",
        "id",
        sqlite_where=sa.text("status = 'pending_review'"),
        postgresql_where=sa.text("status = 'pending_review'"),
    ),
    sa.Index(
        "ix_decisions_pending_score",
        "app",
        "score",
        sqlite_where=sa.text("status = 'pending_review'"),
        postgresql_where=sa.text("status = 'pending_review'"),
    ),
)

shadow_decisions = sa.Table(
    "shadow_decisions",
    metadata,
    # one row per (decision, shadow version): what another model would have decided, never acted on
    sa.Column("decision_id", sa.String(36), sa.ForeignKey("decisions.id"), primary_key=True),
    sa.Column("model_version", sa.String(200), primary_key=True),
    sa.Column("app", sa.String(200), nullable=False),
    sa.Column("entity_id", sa.String(200), nullable=False),
    sa.Column("model_hash", sa.String(128), nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("predicted_class", sa.String(200), nullable=True),
    sa.Column("action", sa.String(200), nullable=False),
    sa.Column("rule", sa.String(200), nullable=True),
    sa.Column("review", sa.Boolean, nullable=False),
    sa.Column("control", sa.Boolean, nullable=False),
    sa.Column("reasons", sa.JSON, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # a version's rows in time order (keyset pages over created_at, decision_id)
    sa.Index(
        "ix_shadow_decisions_app_version_created",
        "app",
        "model_version",
        "created_at",
        "decision_id",
    ),
)

reviews = sa.Table(
    "reviews",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "decision_id", sa.String(36), sa.ForeignKey("decisions.id"), nullable=False, unique=True
    ),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("action", sa.String(200), nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("audit_seq", sa.BigInteger, nullable=True, index=True),
)

review_claims = sa.Table(
    "review_claims",
    metadata,
    sa.Column("decision_id", sa.String(36), sa.ForeignKey("decisions.id"), primary_key=True),
    # the API key whose holder works the case (names may repeat; ids do not)
    sa.Column("key_id", sa.String(36), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("claimed_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("app", sa.String(200), primary_key=True),
    sa.Column("version", sa.String(200), primary_key=True),
    sa.Column("content_hash", sa.String(128), nullable=False),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("stage", sa.String(32), nullable=False, server_default="champion"),
    sa.Column("registered_at", UTCDateTime, nullable=False),
    sa.Column("notes", sa.Text, nullable=True),
    sa.Column("registered_by", sa.String(200), nullable=True),
    # where the registered file is kept (content-addressed); null: the spec's own model.path
    sa.Column("path", sa.String(1000), nullable=True),
    sa.Column("reference", sa.String(1000), nullable=True),
    sa.Column("canary_share", sa.Float, nullable=True),
)

model_stage_changes = sa.Table(
    "model_stage_changes",
    metadata,
    # servers poll max(id) to switch versions without a restart (store/generation.py)
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("app", sa.String(200), nullable=False),
    sa.Column("version", sa.String(200), nullable=False),
    sa.Column("from_stage", sa.String(32), nullable=True),
    sa.Column("to_stage", sa.String(32), nullable=False),
    sa.Column("share", sa.Float, nullable=True),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Index("ix_model_stage_changes_app", "app", "id"),
)

model_promotions = sa.Table(
    "model_promotions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("app", sa.String(200), nullable=False, index=True),
    sa.Column("version", sa.String(200), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # pending, approved, withdrawn
    sa.Column("approvals_required", sa.Integer, nullable=False),
    sa.Column("requested_by", sa.String(200), nullable=False),
    sa.Column("requester_key", sa.String(36), nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("requested_at", UTCDateTime, nullable=False),
    sa.Column("closed_by", sa.String(200), nullable=True),
    sa.Column("closed_at", UTCDateTime, nullable=True),
)

model_approvals = sa.Table(
    "model_approvals",
    metadata,
    sa.Column(
        "promotion_id", sa.String(36), sa.ForeignKey("model_promotions.id"), primary_key=True
    ),
    sa.Column("approver", sa.String(200), primary_key=True),
    sa.Column("key_id", sa.String(36), nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    # written at most once a minute per key and process (services/governance/key_usage.py)
    sa.Column("last_used_at", UTCDateTime, nullable=True),
)

key_generation = sa.Table(
    "key_generation",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),  # one row: 1
    # bumped with every key revocation and role change (store/generation.py)
    sa.Column("generation", sa.BigInteger, nullable=False),
)

page_sessions = sa.Table(
    "page_sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # sha256 of the session's token
    sa.Column("key_id", sa.String(36), sa.ForeignKey("api_keys.id"), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),  # the key's role when it started
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Index("ix_page_sessions_key", "key_id"),
    sa.Index("ix_page_sessions_expires", "expires_at"),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_audit_events_hash", "hash"),
    sa.Index("ix_audit_events_subject", "subject"),  # the trail of one decision (pages)
)

idempotency = sa.Table(
    "idempotency",
    metadata,
    sa.Column("app", sa.String(200), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("body_sha256", sa.String(64), nullable=False),
    sa.Column("response", sa.LargeBinary, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    # null for a message that belongs to no decision (an alert): then 'message' holds it
    sa.Column("decision_id", sa.String(36), sa.ForeignKey("decisions.id"), nullable=True),
    sa.Column("app", sa.String(200), nullable=False),
    sa.Column("action", sa.String(200), nullable=False),
    sa.Column("connector", sa.String(200), nullable=False),
    sa.Column("key", sa.String(255), nullable=False, unique=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    # when a pending delivery is due; for a sending one, when its lease expires (so one index
    # serves every claim: state IN ('pending', 'sending') AND next_attempt_at <= now)
    sa.Column("next_attempt_at", UTCDateTime, nullable=True),
    sa.Column("lease_token", sa.String(64), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime, nullable=True),
    sa.Column("last_status", sa.Integer, nullable=True),
    sa.Column("last_detail", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("delivered_at", UTCDateTime, nullable=True),
    sa.Column("message", sa.JSON, nullable=True),  # an alert's {context, payload, text}
    sa.Index("ix_deliveries_claim", "state", "next_attempt_at"),
    sa.Index("ix_deliveries_decision", "decision_id"),
    sa.Index("ix_deliveries_app_created", "app", "created_at", "id"),
    sa.Index("ix_deliveries_created", "created_at", "id"),
    sa.Index("ix_deliveries_app_state", "app", "state"),  # counts by state (metrics, pages)
)

delivery_attempts = sa.Table(
    "delivery_attempts",
    metadata,
    sa.Column("delivery_id", sa.String(36), sa.ForeignKey("deliveries.id"), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("worker", sa.String(200), nullable=False),
    sa.Column("lease_token", sa.String(64), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Column("outcome", sa.String(16), nullable=True),
    sa.Column("status", sa.Integer, nullable=True),
    sa.Column("detail", sa.Text, nullable=True),
)

connector_states = sa.Table(
    "connector_states",
    metadata,
    sa.Column("app", sa.String(200), primary_key=True),
    sa.Column("connector", sa.String(200), primary_key=True),
    sa.Column("disabled_at", UTCDateTime, nullable=True),
    sa.Column("detail", sa.Text, nullable=True),
)

outcomes = sa.Table(
    "outcomes",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("app", sa.String(200), nullable=False),
    # what the outcome was keyed by, as given: 'decision' (a decision id) or 'entity'
    sa.Column("ref_kind", sa.String(16), nullable=False),
    sa.Column("ref", sa.String(200), nullable=False),
    sa.Column("observed_at", UTCDateTime, nullable=False),
    # the decision it belongs to; null when unmatched (then 'unmatched' says why)
    sa.Column("decision_id", sa.String(36), sa.ForeignKey("decisions.id"), nullable=True),
    sa.Column("entity_id", sa.String(200), nullable=True),
    sa.Column("label", sa.String(200), nullable=True),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("unmatched", sa.String(32), nullable=True),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    sa.Column("audit_seq", sa.BigInteger, nullable=True),
    # the same outcome sent twice is one row (idempotent imports)
    sa.UniqueConstraint("app", "ref_kind", "ref", "observed_at", name="uq_outcomes_ref"),
    sa.Index("ix_outcomes_decision", "decision_id", "observed_at"),  # a decision's latest outcome
    sa.Index("ix_outcomes_app_entity", "app", "entity_id", "observed_at"),
    sa.Index("ix_outcomes_app_unmatched", "app", "unmatched"),
    sa.Index("ix_outcomes_audit_seq", "audit_seq"),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("app", sa.String(200), nullable=False),
    # the schedule and slot of a scheduled run; null for a run started by hand
    sa.Column("schedule", sa.String(200), nullable=True),
    sa.Column("slot", UTCDateTime, nullable=True),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # running, succeeded, failed, skipped
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    # the last entity id whose chunk was committed: a resumed run continues after it
    sa.Column("checkpoint", sa.String(200), nullable=True),
    sa.Column("rows", sa.Integer, nullable=False, server_default="0"),
    sa.Column("decided", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rejected", sa.Integer, nullable=False, server_default="0"),
    sa.Column("deliveries", sa.Integer, nullable=False, server_default="0"),
    sa.Column("errors", sa.JSON, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
    sa.Column("runner", sa.String(200), nullable=True),
    sa.Column("lease_token", sa.String(64), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime, nullable=True),
    # how it runs, for a resume: deliver, explain, chunk_rows, query (of a run by hand)
    sa.Column("options", sa.JSON, nullable=True),
    # one run per scheduled slot, whatever the number of servers
    sa.UniqueConstraint("app", "schedule", "slot", name="uq_runs_slot"),
    sa.Index("ix_runs_started", "started_at", "id"),
    sa.Index("ix_runs_state", "state"),
)

scheduler_leases = sa.Table(
    "scheduler_leases",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("token", sa.String(64), nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)

alert_states = sa.Table(
    "alert_states",
    metadata,
    sa.Column("app", sa.String(200), primary_key=True),
    # what is watched: 'drift.<feature>', 'drift.score' or 'quality.<metric>'
    sa.Column("subject", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # drift, quality
    sa.Column("status", sa.String(16), nullable=False),  # ok, warn, alert
    # the open breach (null once resolved): its messages' keys derive from it
    sa.Column("breach_id", sa.String(36), nullable=True),
    # bumped by every change: a change applies only to the version it was computed from
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("opened_at", UTCDateTime, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("window_start", UTCDateTime, nullable=True),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("threshold", sa.Float, nullable=True),
    sa.Column("retrain_at", UTCDateTime, nullable=True),  # the hook fired for this breach
    sa.Column("detail", sa.JSON, nullable=True),
)

rejects = sa.Table(
    "rejects",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("app", sa.String(200), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    # where the record came from: api, file, import, run
    sa.Column("source", sa.String(16), nullable=False),
    # names the record (one per rule it broke share it): counts records, not rules
    sa.Column("record", sa.String(120), nullable=False),
    sa.Column("run_id", sa.String(36), nullable=True),
    sa.Column("row", sa.Integer, nullable=True),
    sa.Column("entity_id", sa.String(200), nullable=True),
    sa.Column("field", sa.String(200), nullable=True),
    sa.Column("rule", sa.String(64), nullable=False),
    sa.Column("value", sa.Text, nullable=True),  # masked (***) when the field is PII
    sa.Column("message", sa.Text, nullable=False),
    sa.Index("ix_rejects_app_at", "app", "at"),
)

stream_consumers = sa.Table(
    "stream_consumers",
    metadata,
    sa.Column("app", sa.String(200), primary_key=True),
    sa.Column("stream", sa.String(200), primary_key=True),
    sa.Column("consumer", sa.String(200), primary_key=True),  # host:pid of the process
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("received", sa.BigInteger, nullable=False),
    sa.Column("decided", sa.BigInteger, nullable=False),
    sa.Column("duplicates", sa.BigInteger, nullable=False),
    sa.Column("rejected", sa.BigInteger, nullable=False),
    sa.Column("dead_letters", sa.BigInteger, nullable=False),
    sa.Column("errors", sa.BigInteger, nullable=False),
    sa.Column("lag", sa.BigInteger, nullable=True),
    sa.Column("rate", sa.Float, nullable=False),  # messages/s over the last report interval
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("last_error_at", UTCDateTime, nullable=True),
)
