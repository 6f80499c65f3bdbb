"""Outcomes: what really happened after decisions, matched to a decision or kept unmatched.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "outcomes",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("app", sa.String(200), nullable=False),
        sa.Column("ref_kind", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(200), nullable=False),
        sa.Column("observed_at", TS, nullable=False),
        sa.Column("decision_id", sa.String(36), sa.ForeignKey("decisions.id"), nullable=True),
        sa.Column("entity_id", sa.String(200), nullable=True),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("unmatched", sa.String(32), nullable=True),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("audit_seq", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("app", "ref_kind", "ref", "observed_at", name="uq_outcomes_ref"),
    )
    op.create_index("ix_outcomes_decision", "outcomes", ["decision_id", "observed_at"])
    op.create_index("ix_outcomes_app_entity", "outcomes", ["app", "entity_id", "observed_at"])
    op.create_index("ix_outcomes_app_unmatched", "outcomes", ["app", "unmatched"])
    op.create_index("ix_outcomes_audit_seq", "outcomes", ["audit_seq"])


def downgrade() -> None:
    op.drop_index("ix_outcomes_audit_seq", table_name="outcomes")
    op.drop_index("ix_outcomes_app_unmatched", table_name="outcomes")
    op.drop_index("ix_outcomes_app_entity", table_name="outcomes")
    op.drop_index("ix_outcomes_decision", table_name="outcomes")
    op.drop_table("outcomes")
