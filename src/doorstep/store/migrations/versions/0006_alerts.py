"""Alerts: the state of each monitored subject (one breach at a time, raised once, resolved once),
and outbox rows that carry a ready message instead of a decision's action.

``deliveries.decision_id`` becomes nullable and ``deliveries.message`` holds an alert's context,
payload and text. SQLite cannot drop a NOT NULL in place: the table is rebuilt, and
``delivery_attempts`` (which refers to it, with foreign keys on) is set aside and put back.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
_ATTEMPTS = (
    "delivery_id, number, worker, lease_token, started_at, finished_at, outcome, status, detail"
)


def _attempts_table() -> None:
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


def _deliveries(nullable: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("deliveries", "decision_id", existing_type=sa.String(36), nullable=nullable)
        if nullable:
            op.add_column("deliveries", sa.Column("message", sa.JSON, nullable=True))
        else:
            op.drop_column("deliveries", "message")
        return
    op.execute(f"CREATE TABLE _doorstep_attempts AS SELECT {_ATTEMPTS} FROM delivery_attempts")
    op.drop_table("delivery_attempts")
    with op.batch_alter_table("deliveries", recreate="always") as batch:
        batch.alter_column("decision_id", existing_type=sa.String(36), nullable=nullable)
        if nullable:
            batch.add_column(sa.Column("message", sa.JSON, nullable=True))
        else:
            batch.drop_column("message")
    _attempts_table()
    op.execute(
        f"INSERT INTO delivery_attempts ({_ATTEMPTS}) SELECT {_ATTEMPTS} FROM _doorstep_attempts"
    )
    op.drop_table("_doorstep_attempts")


def upgrade() -> None:
    _deliveries(nullable=True)
    op.create_table(
        "alert_states",
        sa.Column("app", sa.String(200), primary_key=True),
        sa.Column("subject", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("breach_id", sa.String(36), nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("opened_at", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("window_start", TS, nullable=True),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("threshold", sa.Float, nullable=True),
        sa.Column("retrain_at", TS, nullable=True),
        sa.Column("detail", sa.JSON, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("alert_states")
    op.execute(
        "DELETE FROM delivery_attempts WHERE delivery_id IN "
        "(SELECT id FROM deliveries WHERE decision_id IS NULL)"
    )
    op.execute("DELETE FROM deliveries WHERE decision_id IS NULL")
    _deliveries(nullable=False)
