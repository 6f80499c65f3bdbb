"""Decisions, reviews, model versions, API keys, audit events, idempotency keys.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_events_hash", "audit_events", ["hash"])
    op.create_table(
        "decisions",
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
        sa.Column("created_at", TS, nullable=False),
        sa.Column("audit_seq", sa.BigInteger, nullable=True),
    )
    # newest-first pages (ORDER BY created_at DESC, id DESC) scan this index backwards
    op.create_index("ix_decisions_app_created", "decisions", ["app", "created_at", "id"])
    op.create_index("ix_decisions_app_entity", "decisions", ["app", "entity_id"])
    op.create_index("ix_decisions_app_status", "decisions", ["app", "status"])
    op.create_index("ix_decisions_app_action", "decisions", ["app", "action"])
    op.create_index("ix_decisions_audit_seq", "decisions", ["audit_seq"])
    op.create_table(
        "reviews",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "decision_id",
            sa.String(36),
            sa.ForeignKey("decisions.id"),
            nullable=False,
            unique=True,
        ),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("action", sa.String(200), nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("audit_seq", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_reviews_audit_seq", "reviews", ["audit_seq"])
    op.create_table(
        "model_versions",
        sa.Column("app", sa.String(200), primary_key=True),
        sa.Column("version", sa.String(200), primary_key=True),
        sa.Column("content_hash", sa.String(128), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("stage", sa.String(32), nullable=False, server_default="champion"),
        sa.Column("registered_at", TS, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
    )
    op.create_table(
        "idempotency",
        sa.Column("app", sa.String(200), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("response", sa.LargeBinary, nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )


def downgrade() -> None:
    for table in ("idempotency", "api_keys", "model_versions", "reviews", "decisions"):
        op.drop_table(table)
    op.drop_table("audit_events")
