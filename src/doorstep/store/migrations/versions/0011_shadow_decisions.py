"""Shadow decisions: one row per (decision, shadow model version) with what that version would
have decided (score, action, rule, review, control, reasons), stored beside the champion's
decision and never delivered. Read by version and time for the champion-versus-challenger
comparison.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "shadow_decisions",
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
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index(
        "ix_shadow_decisions_app_version_created",
        "shadow_decisions",
        ["app", "model_version", "created_at", "decision_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_shadow_decisions_app_version_created", table_name="shadow_decisions")
    op.drop_table("shadow_decisions")
