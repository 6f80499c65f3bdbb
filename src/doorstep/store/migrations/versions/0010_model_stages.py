"""Model versions with stages: a registered version keeps its notes, who registered it, where its
file is kept (content-addressed) and the reference it was checked against; every change of stage
is a row of ``model_stage_changes`` (whose largest id servers poll to switch versions without a
restart); promotions to champion wait in ``model_promotions`` for their approvals
(``model_approvals``, four eyes).

Versions registered before had ``stage = 'champion'`` each; the latest registered per app stays
champion, the others become ``retired``.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("notes", sa.Text, nullable=True))
        batch.add_column(sa.Column("registered_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("path", sa.String(1000), nullable=True))
        batch.add_column(sa.Column("reference", sa.String(1000), nullable=True))
        batch.add_column(sa.Column("canary_share", sa.Float, nullable=True))
    op.execute(
        "UPDATE model_versions SET stage = 'retired' WHERE registered_at < "
        "(SELECT max(m.registered_at) FROM model_versions m WHERE m.app = model_versions.app)"
    )
    op.create_table(
        "model_stage_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("app", sa.String(200), nullable=False),
        sa.Column("version", sa.String(200), nullable=False),
        sa.Column("from_stage", sa.String(32), nullable=True),
        sa.Column("to_stage", sa.String(32), nullable=False),
        sa.Column("share", sa.Float, nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("ix_model_stage_changes_app", "model_stage_changes", ["app", "id"])
    op.create_table(
        "model_promotions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("app", sa.String(200), nullable=False, index=True),
        sa.Column("version", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("approvals_required", sa.Integer, nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requester_key", sa.String(36), nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("requested_at", TS, nullable=False),
        sa.Column("closed_by", sa.String(200), nullable=True),
        sa.Column("closed_at", TS, nullable=True),
    )
    op.create_table(
        "model_approvals",
        sa.Column(
            "promotion_id",
            sa.String(36),
            sa.ForeignKey("model_promotions.id"),
            primary_key=True,
        ),
        sa.Column("approver", sa.String(200), primary_key=True),
        sa.Column("key_id", sa.String(36), nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("model_approvals")
    op.drop_table("model_promotions")
    op.drop_index("ix_model_stage_changes_app", "model_stage_changes")
    op.drop_table("model_stage_changes")
    with op.batch_alter_table("model_versions") as batch:
        for column in ("canary_share", "reference", "path", "registered_by", "notes"):
            batch.drop_column(column)
