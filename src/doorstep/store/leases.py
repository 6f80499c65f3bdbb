"""Named leases: one holder at a time across every server sharing the store (the run scheduler,
the monitor). A holder takes or renews its lease on every tick; when it stops, the lease expires
and another takes it."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from doorstep.store.tables import scheduler_leases

__all__ = ["acquire_lease", "lease_holders", "release_lease"]


def acquire_lease(
    conn: sa.Connection, name: str, holder: str, seconds: float, now: datetime
) -> bool:
    """Take or renew the lease ``name`` for ``holder``; ``False`` while another holds it."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(
        insert(scheduler_leases)
        .values(name=name, holder="", token="", expires_at=now - timedelta(seconds=1))
        .on_conflict_do_nothing()
    )
    changed = conn.execute(
        scheduler_leases.update()
        .where(
            scheduler_leases.c.name == name,
            sa.or_(scheduler_leases.c.expires_at < now, scheduler_leases.c.holder == holder),
        )
        .values(
            holder=holder,
            token=secrets.token_hex(8),
            expires_at=now + timedelta(seconds=seconds),
        )
    ).rowcount
    return bool(changed == 1)


def release_lease(conn: sa.Connection, name: str, holder: str, now: datetime) -> None:
    conn.execute(
        scheduler_leases.update()
        .where(scheduler_leases.c.name == name, scheduler_leases.c.holder == holder)
        .values(expires_at=now - timedelta(seconds=1))
    )


def lease_holders(conn: sa.Connection, prefix: str, now: datetime) -> dict[str, str]:
    """The unexpired leases whose name starts with ``prefix``: name -> holder."""
    rows = conn.execute(
        sa.select(scheduler_leases.c.name, scheduler_leases.c.holder).where(
            sa.func.substr(scheduler_leases.c.name, 1, len(prefix)) == prefix,
            scheduler_leases.c.expires_at >= now,
        )
    ).all()
    return {row.name: row.holder for row in rows}
