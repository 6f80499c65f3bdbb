"""The outbox: deliveries, their attempts, and connectors disabled by HTTP 410.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("decision_id", sa.String(36), sa.ForeignKey("decisions.id"), nullable=False),
        sa.Column("app", sa.String(200), nullable=False),
        sa.Column("action", sa.String(200), nullable=False),
        sa.Column("connector", sa.String(200), nullable=False),
        sa.Column("key", sa.String(255), nullable=False, unique=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("lease_token", sa.String(64), nullable=True),
        sa.Column("lease_expires_at", TS, nullable=True),
        sa.Column("last_status", sa.Integer, nullable=True),
        sa.Column("last_detail", sa.Text, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("delivered_at", TS, nullable=True),
    )
    # claims: state IN ('pending', 'sending') AND next_attempt_at <= now ORDER BY next_attempt_at
    op.create_index("ix_deliveries_claim", "deliveries", ["state", "next_attempt_at"])
    op.create_index("ix_deliveries_decision", "deliveries", ["decision_id"])
    op.create_index("ix_deliveries_app_created", "deliveries", ["app", "created_at", "id"])
    op.create_index("ix_deliveries_created", "deliveries", ["created_at", "id"])
    op.create_index("ix_deliveries_app_state", "deliveries", ["app", "state"])
    op.create_table(
        "delivery_attempts",
        sa.Column("delivery_id", sa.String(36), sa.ForeignKey("deliveries.id"), primary_key=True),
        sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("worker", sa.String(200), nullable=False),
        sa.Column("lease_token", sa.String(64), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("status", sa.Integer, nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
    )
    op.create_table(
        "connector_states",
        sa.Column("app", sa.String(200), primary_key=True),
        sa.Column("connector", sa.String(200), primary_key=True),
        sa.Column("disabled_at", TS, nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("connector_states")
    op.drop_table("delivery_attempts")
    op.drop_index("ix_deliveries_app_state", "deliveries")
    op.drop_index("ix_deliveries_created", "deliveries")
    op.drop_index("ix_deliveries_app_created", "deliveries")
    op.drop_index("ix_deliveries_decision", "deliveries")
    op.drop_index("ix_deliveries_claim", "deliveries")
    op.drop_table("deliveries")
