"""A run's options (``runs.options``: whether it delivers, explains, its chunk size, the query of
a run by hand from ``--url``/``--query``), kept so that a run resumed after a failure or a crash
goes on as it started (``doorstep runs resume``). Runs from before have none: a run by hand
resumes without delivering, a scheduled one with its schedule's settings.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("options", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("options")
