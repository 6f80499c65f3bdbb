"""``doorstep db``, ``doorstep keys`` and ``doorstep audit``: the store from the command line.

Each command parses, calls a service and renders. ``--db`` takes a database URL; without it,
``DOORSTEP_DATABASE_URL`` or ``.doorstep/doorstep.db`` is used.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.table import Table

from doorstep.cli.console import console, errors
from doorstep.cli.errors import command_group
from doorstep.store.protocols import ApiKey, StoreContract  # light: no SQLAlchemy

__all__ = ["audit_app", "db_app", "keys_app"]


DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL (sqlite:///PATH or postgresql://…). "
        "Default: DOORSTEP_DATABASE_URL, else .doorstep/doorstep.db.",
        show_default=False,
    ),
]

db_app = command_group(help="The store's database: migrations.", no_args_is_help=True)
keys_app = command_group(help="API keys: create, list, revoke.", no_args_is_help=True)
audit_app = command_group(help="The tamper-evident audit trail.", no_args_is_help=True)


@db_app.callback()
def _db() -> None:
    """The store's database: migrations."""


@audit_app.callback()
def _audit() -> None:
    """The tamper-evident audit trail."""


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # pragma: no cover - no user name in some containers
        return "cli"


@contextmanager
def _open(db: str | None) -> Iterator[StoreContract]:
    from doorstep.store import open_store

    store = open_store(db)
    try:
        yield store
    finally:
        store.close()


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Create the store's tables or apply pending migrations (also done on every start)."""
    from doorstep.store import open_store, upgrade

    store = open_store(db, migrate=False)
    try:
        revision = upgrade(store.engine)
    finally:
        store.close()
    console.print(f"{store.url}: at revision {revision}", highlight=False)


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="admin, owner, reviewer, viewer or client.")],
    name: Annotated[str, typer.Option(help="Who or what uses the key, e.g. crm.")],
    db: DbOption = None,
) -> None:
    """Create an API key and print its secret once (only its hash is stored)."""
    from doorstep.services.governance.keys import create_key

    with _open(db) as store:
        key, secret = create_key(store, name, role, actor=_actor())
    errors.print(f"Created {key.role} key {key.name!r} (id {key.id}). Shown once; store it now:")
    console.print(secret, highlight=False, soft_wrap=True)


@keys_app.command("list")
def keys_list(db: DbOption = None) -> None:
    """List API keys: id, name, role, prefix, created, revoked. Secrets are never shown."""
    from doorstep.services.governance.keys import list_keys

    with _open(db) as store:
        keys = list_keys(store)
    console.print(_keys_table(keys))


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (see `doorstep keys list`).")],
    db: DbOption = None,
) -> None:
    """Revoke an API key; it stops working at once."""
    from doorstep.services.governance.keys import revoke_key

    with _open(db) as store:
        key = revoke_key(store, key_id, actor=_actor())
    console.print(f"Revoked {key.role} key {key.name!r} ({key.id}).", highlight=False)


@audit_app.command("verify")
def audit_verify(db: DbOption = None) -> None:
    """Walk the audit chain and the rows it vouches for; exit 1 naming the first bad event."""
    from doorstep.services.governance.audit import describe_report, verify_audit

    with _open(db) as store:
        report = verify_audit(store)
    if report.ok:
        console.print(describe_report(report), highlight=False)
        return
    errors.print(f"[bold red]audit verify failed[/]: {describe_report(report)}", highlight=False)
    raise typer.Exit(code=1)


def _keys_table(keys: list[ApiKey]) -> Table:
    table = Table("id", "name", "role", "prefix", "created", "revoked")
    for key in keys:
        table.add_row(
            key.id,
            key.name,
            key.role,
            key.prefix + "…",
            key.created_at.strftime("%Y-%m-%d %H:%M"),
            key.revoked_at.strftime("%Y-%m-%d %H:%M") if key.revoked_at else "",
        )
    return table
