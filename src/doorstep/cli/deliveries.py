"""``doorstep deliveries``: the outbox for operators (list, show, retry, cancel; re-enable a
connector). See docs/deliveries.md."""

from __future__ import annotations

from typing import Annotated

import typer

from doorstep.cli import deliveries_render
from doorstep.cli.console import console, errors
from doorstep.cli.errors import command_group
from doorstep.cli.options import DbOption, actor, open_db
from doorstep.errors import InputError
from doorstep.store.protocols import DeliveryChanges  # light: no SQLAlchemy

__all__ = ["deliveries_app"]

deliveries_app = command_group(
    help="The outbox: list, show, retry and cancel deliveries; re-enable a connector.",
    no_args_is_help=True,
)

IdsArgument = Annotated[
    list[str] | None,
    typer.Argument(help="Delivery ids (see `doorstep deliveries list`).", show_default=False),
]
ReasonOption = Annotated[
    str | None,
    typer.Option(help="Why, recorded in the audit trail with the change.", show_default=False),
]


@deliveries_app.command("list")
def deliveries_list(
    app: Annotated[str | None, typer.Option(help="Only this app.")] = None,
    state: Annotated[
        str | None,
        typer.Option(help="Only this state: held, pending, sending, delivered, dead, cancelled."),
    ] = None,
    connector: Annotated[str | None, typer.Option(help="Only this connector.")] = None,
    decision: Annotated[str | None, typer.Option(help="Only this decision's deliveries.")] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=1000, help="Most rows shown (a page; at most 1,000).")
    ] = 50,
    cursor: Annotated[
        str | None,
        typer.Option(
            help="Show the page after the one that printed this cursor (same filters).",
            show_default=False,
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """List deliveries, newest first, with their state, attempts and last result."""
    from doorstep.services.deliver.operations import connector_states, list_deliveries

    with open_db(db) as store:
        page = list_deliveries(
            store,
            app=app,
            state=state,
            connector=connector,
            decision_id=decision,
            cursor=cursor,
            limit=limit,
        )
        disabled = connector_states(store, app)
    deliveries_render.deliveries(console, errors, page, disabled, limit)


@deliveries_app.command("show")
def deliveries_show(
    delivery_id: Annotated[str, typer.Argument(help="The delivery's id.")],
    db: DbOption = None,
) -> None:
    """Show one delivery and every attempt made."""
    from doorstep.services.deliver.operations import get_delivery

    with open_db(db) as store:
        info = get_delivery(store, delivery_id)
    deliveries_render.delivery(console, info)


@deliveries_app.command("retry")
def deliveries_retry(
    ids: IdsArgument = None,
    dead: Annotated[bool, typer.Option("--dead", help="Every dead delivery of --app.")] = False,
    app: Annotated[str | None, typer.Option(help="The app, with --dead.")] = None,
    reason: ReasonOption = None,
    db: DbOption = None,
) -> None:
    """Send dead or cancelled deliveries again, with a fresh cycle of attempts."""
    from doorstep.services.deliver.operations import retry_dead, retry_deliveries

    if dead == bool(ids) or (dead and not app):
        raise InputError(
            "Name the deliveries to retry: their ids, or --dead --app APP for every dead "
            "delivery of an app."
        )
    with open_db(db) as store:
        if dead:
            assert app is not None
            changes = retry_dead(store, app, actor=actor(), reason=reason)
        else:
            changes = retry_deliveries(store, ids or [], actor=actor(), reason=reason)
    _report(changes, "Re-queued", "dead or cancelled")


@deliveries_app.command("cancel")
def deliveries_cancel(
    ids: IdsArgument = None, reason: ReasonOption = None, db: DbOption = None
) -> None:
    """Cancel held, pending or dead deliveries: they are never sent (retry undoes it)."""
    from doorstep.services.deliver.operations import cancel_deliveries

    if not ids:
        raise InputError("Name the deliveries to cancel by their ids.")
    with open_db(db) as store:
        changes = cancel_deliveries(store, ids, actor=actor(), reason=reason)
    _report(changes, "Cancelled", "held, pending or dead")


@deliveries_app.command("enable")
def deliveries_enable(
    app: Annotated[str, typer.Argument(help="The app.")],
    connector: Annotated[str, typer.Argument(help="The connector's name in the spec.")],
    db: DbOption = None,
) -> None:
    """Send to a connector again after its target answered HTTP 410 Gone."""
    from doorstep.services.deliver.operations import enable_connector

    with open_db(db) as store:
        changed = enable_connector(store, app, connector, actor=actor())
    if changed:
        console.print(f"Enabled {app}/{connector}: its pending deliveries go out again.")
    else:
        console.print(f"{app}/{connector} was not disabled; nothing to do.")


def _report(changes: DeliveryChanges, verb: str, allowed: str) -> None:
    """Show what changed; exit 1 when a delivery was skipped or is missing."""
    deliveries_render.changes(console, errors, changes, verb, allowed)
    if changes.skipped or changes.missing:
        raise typer.Exit(code=1)
