"""Feature lineage on decisions; batch runs from sources (scheduled or by hand) with their
checkpoints and counts; the scheduler's lease (one runner at a time across all servers).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("lineage", sa.JSON, nullable=True))
    op.create_table(
        "runs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("app", sa.String(200), nullable=False),
        sa.Column("schedule", sa.String(200), nullable=True),
        sa.Column("slot", TS, nullable=True),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
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
        sa.Column("lease_expires_at", TS, nullable=True),
        sa.UniqueConstraint("app", "schedule", "slot", name="uq_runs_slot"),
    )
    op.create_index("ix_runs_started", "runs", ["started_at", "id"])
    op.create_index("ix_runs_state", "runs", ["state"])
    op.create_table(
        "scheduler_leases",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("scheduler_leases")
    op.drop_index("ix_runs_state", table_name="runs")
    op.drop_index("ix_runs_started", table_name="runs")
    op.drop_table("runs")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("lineage")
