"""``doorstep keys``: API keys from the command line (create, list, revoke)."""

from __future__ import annotations

from typing import Annotated

import typer

from doorstep.cli import render
from doorstep.cli.console import console, errors
from doorstep.cli.errors import command_group
from doorstep.cli.options import DbOption, actor, open_db

__all__ = ["keys_app"]

keys_app = command_group(help="API keys: create, list, revoke.", no_args_is_help=True)


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="admin, owner, reviewer, viewer or client.")],
    name: Annotated[str, typer.Option(help="Who or what uses the key, e.g. crm.")],
    db: DbOption = None,
) -> None:
    """Create an API key and print its secret once (only its hash is stored)."""
    from doorstep.services.governance.keys import create_key

    with open_db(db) as store:
        key, secret = create_key(store, name, role, actor=actor())
    errors.print(f"Created {key.role} key {key.name!r} (id {key.id}). Shown once; store it now:")
    console.print(secret, highlight=False, soft_wrap=True)


@keys_app.command("list")
def keys_list(db: DbOption = None) -> None:
    """List API keys: id, name, role, prefix, created, last used (to within a minute),
    revoked. Secrets are never shown."""
    from doorstep.services.governance.keys import list_keys

    with open_db(db) as store:
        keys = list_keys(store)
    console.print(render.keys_table(keys))


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (see `doorstep keys list`).")],
    db: DbOption = None,
) -> None:
    """Revoke an API key; it stops working at once."""
    from doorstep.services.governance.keys import revoke_key

    with open_db(db) as store:
        key = revoke_key(store, key_id, actor=actor())
    console.print(f"Revoked {key.role} key {key.name!r} ({key.id}).", highlight=False)
