"""Rejects: every record refused by the input contract is kept, one row per broken rule — when,
which app, where from (the API, a file run, an import, a scheduled run), the record's entity id
when it had one, the field, the rule, the offending value (masked when the field is PII) and the
message — so that data quality is measured on everything that arrived, not only on what was
decided.

Revision ID: 0012
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rejects",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("app", sa.String(200), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("record", sa.String(120), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=True),
        sa.Column("row", sa.Integer, nullable=True),
        sa.Column("entity_id", sa.String(200), nullable=True),
        sa.Column("field", sa.String(200), nullable=True),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("value", sa.Text, nullable=True),
        sa.Column("message", sa.Text, nullable=False),
    )
    op.create_index("ix_rejects_app_at", "rejects", ["app", "at"])


def downgrade() -> None:
    op.drop_index("ix_rejects_app_at", table_name="rejects")
    op.drop_table("rejects")
