"""Review claims (who works a case in the review queue), and the indexes the pages read by:
the pending queue by age and by score, and the audit events of one subject.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
PENDING = sa.text("status = 'pending_review'")


def upgrade() -> None:
    op.create_table(
        "review_claims",
        sa.Column("decision_id", sa.String(36), sa.ForeignKey("decisions.id"), primary_key=True),
        sa.Column("key_id", sa.String(36), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("claimed_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
    )
    # partial indexes: only pending decisions are in them, so the hot insert path pays for them
    # only for the few decisions sent for review
    op.create_index(
        "ix_decisions_pending_created",
        "decisions",
        ["app", "created_at", "id"],
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )
    op.create_index(
        "ix_decisions_pending_score",
        "decisions",
        ["app", "score"],
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )
    op.create_index("ix_audit_events_subject", "audit_events", ["subject"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_subject", table_name="audit_events")
    op.drop_index("ix_decisions_pending_score", table_name="decisions")
    op.drop_index("ix_decisions_pending_created", table_name="decisions")
    op.drop_table("review_claims")
