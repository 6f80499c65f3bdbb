"""Stream consumers: what each consumer of a stream (``doorstep consume``) last reported —
messages received, decided, duplicates, rejected, dead letters, errors, the bus's lag, the rate —
for ``doorstep streams list``. One row per consumer process; the decisions themselves carry their
stream lineage, and redeliveries are told apart by the idempotency table.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "stream_consumers",
        sa.Column("app", sa.String(200), primary_key=True),
        sa.Column("stream", sa.String(200), primary_key=True),
        sa.Column("consumer", sa.String(200), primary_key=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("received", sa.BigInteger, nullable=False),
        sa.Column("decided", sa.BigInteger, nullable=False),
        sa.Column("duplicates", sa.BigInteger, nullable=False),
        sa.Column("rejected", sa.BigInteger, nullable=False),
        sa.Column("dead_letters", sa.BigInteger, nullable=False),
        sa.Column("errors", sa.BigInteger, nullable=False),
        sa.Column("lag", sa.BigInteger, nullable=True),
        sa.Column("rate", sa.Float, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("last_error_at", TS, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("stream_consumers")
