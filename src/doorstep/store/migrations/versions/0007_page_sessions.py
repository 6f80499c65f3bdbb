"""The pages' sessions, one row per sign-in, so that signing out, revoking a key or changing its
role ends them at once (the signed cookie alone lasted its 12 hours).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "page_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("key_id", sa.String(36), sa.ForeignKey("api_keys.id"), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
    )
    op.create_index("ix_page_sessions_key", "page_sessions", ["key_id"])
    op.create_index("ix_page_sessions_expires", "page_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_page_sessions_expires", table_name="page_sessions")
    op.drop_index("ix_page_sessions_key", table_name="page_sessions")
    op.drop_table("page_sessions")
