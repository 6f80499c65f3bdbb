"""Alembic environment for doorstep's store. Run through ``doorstep.store.upgrade(engine)``,
which passes an open connection in ``config.attributes["connection"]``."""

from __future__ import annotations

from alembic import context

from doorstep.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable through the alembic CLI
    raise RuntimeError(
        "run migrations with doorstep.store.upgrade(engine) or `doorstep db upgrade`"
    )

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
