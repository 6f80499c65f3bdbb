"""``doorstep db``: the store's database from the command line (migrations)."""

from __future__ import annotations

from doorstep.cli.console import console
from doorstep.cli.errors import command_group
from doorstep.cli.options import DbOption

__all__ = ["db_app"]

db_app = command_group(help="The store's database: migrations.", no_args_is_help=True)


@db_app.callback()
def _db() -> None:
    """The store's database: migrations."""


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
