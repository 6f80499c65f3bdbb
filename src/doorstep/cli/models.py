"""``doorstep models``: versions of an app's model — register, list, history, shadow, canary,
promote with four eyes (promote, approve, withdraw), rollback."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from doorstep.cli.console import console
from doorstep.cli.errors import command_group
from doorstep.cli.models_render import history_table, render_models
from doorstep.cli.options import DbOption, actor, open_db
from doorstep.store.protocols import StoreContract

if TYPE_CHECKING:
    from doorstep.core.spec.models import Spec
    from doorstep.services.rollout.stages import Caller

__all__ = ["models_app"]

models_app = command_group(
    help="Model versions: register, backtest, shadow, canary, compare, promote (four eyes), "
    "rollback.",
    no_args_is_help=True,
)

AppArgument = Annotated[str, typer.Argument(help="The app's name.", show_default=False)]
VersionOption = Annotated[str, typer.Option("--version", help="The model version.")]
ReasonOption = Annotated[str, typer.Option(help="Why: kept in the audit trail.")]
SpecPathOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--spec",
        "-s",
        help="The app's doorstep.yaml, or a folder of specs (default: the working directory).",
        show_default=False,
    ),
]
KeyOption = Annotated[
    str | None,
    typer.Option(
        envvar="DOORSTEP_API_KEY",
        help="Your API key (role owner or admin): who acts, as the audit trail records it. "
        "Promote, approve and withdraw need one. Default: DOORSTEP_API_KEY.",
        show_default=False,
    ),
]


def _caller(store: StoreContract, key: str | None) -> Caller:
    from doorstep.services.rollout.stages import caller_of_key

    return caller_of_key(store, key, actor=actor())


def _spec(paths: list[Path] | None, app: str) -> Spec:
    from doorstep.services.rollout.specs import find_spec

    return find_spec(paths or [Path(".")], app)[1].spec


@models_app.command("register")
def models_register(
    file: Annotated[Path, typer.Argument(help="The model file (or MLflow folder).")],
    app: Annotated[str, typer.Option(help="The app the model is for.")],
    version: VersionOption,
    notes: Annotated[str | None, typer.Option(help="What changed, e.g. 'retrained on Q4'.")] = None,
    spec: SpecPathOption = None,
    models: Annotated[
        Path | None,
        typer.Option(
            help="Folder to keep model files in (default: models/ in the store's home).",
            show_default=False,
        ),
    ] = None,
    key: KeyOption = None,
    db: DbOption = None,
) -> None:
    """Check a model file against the app exactly as at load time, keep it content-addressed
    and register it as a candidate version."""
    from doorstep.services.apps.loading import load_app
    from doorstep.services.rollout.files import MODELS_FOLDER
    from doorstep.services.rollout.register import register_spec_model, register_version
    from doorstep.services.rollout.specs import find_spec
    from doorstep.store.engine import store_home
    from doorstep.store.home import DEFAULT_HOME

    path, _ = find_spec(spec or [Path(".")], app)
    loaded = load_app(path)
    folder = models if models is not None else store_home(db, DEFAULT_HOME) / MODELS_FOLDER
    with open_db(db) as store:
        caller = _caller(store, key)
        # the spec's model is the first champion, as `serve` registers it: without it a
        # promotion made from the command line alone would have nothing to roll back to
        register_spec_model(loaded, store, actor=caller.actor, models=folder)
        done = register_version(
            loaded, store, file, version=version, models=folder, actor=caller.actor, notes=notes
        )
    row = done.version
    said = "Registered" if done.created else "Already registered:"
    console.print(
        f"{said} version [bold]{escape(row['version'])}[/] of app [bold]{escape(app)}[/] "
        f"({row['content_hash'][:19]}…) as {row['stage']}; kept at {escape(str(row['path']))}",
        highlight=False,
        soft_wrap=True,
    )


@models_app.command("list")
def models_list(app: AppArgument, spec: SpecPathOption = None, db: DbOption = None) -> None:
    """The app's versions and stages, the pending promotion and the governance rules."""
    from doorstep.services.rollout.views import models_view

    found = _spec(spec, app)
    with open_db(db) as store:
        view = models_view(store, found)
    render_models(console, view)


@models_app.command("history")
def models_history(app: AppArgument, spec: SpecPathOption = None, db: DbOption = None) -> None:
    """Every change of stage of the app's versions: when, from, to, who and why."""
    from doorstep.services.rollout.views import models_view

    found = _spec(spec, app)
    with open_db(db) as store:
        view = models_view(store, found)
    console.print(history_table(view["history"]))


@models_app.command("promote")
def models_promote(
    app: AppArgument,
    version: VersionOption,
    reason: ReasonOption,
    spec: SpecPathOption = None,
    key: KeyOption = None,
    db: DbOption = None,
) -> None:
    """Request that a version become the champion; other keys approve it (four eyes)."""
    from doorstep.services.rollout.promotion import request_promotion

    found = _spec(spec, app)
    with open_db(db) as store:
        promotion = request_promotion(
            store, found, version, caller=_caller(store, key), reason=reason
        )
    console.print(
        f"Promotion of version [bold]{escape(version)}[/] requested; it needs "
        f"{promotion['approvals_required']} approval(s) by another key: doorstep models "
        f"approve {escape(app)} --version {escape(version)} --reason …",
        highlight=False,
        soft_wrap=True,
    )


@models_app.command("approve")
def models_approve(
    app: AppArgument,
    version: VersionOption,
    reason: ReasonOption,
    spec: SpecPathOption = None,
    key: KeyOption = None,
    db: DbOption = None,
) -> None:
    """Approve a pending promotion; the last approval needed makes the version the champion."""
    from doorstep.services.rollout.promotion import approve_promotion

    found = _spec(spec, app)
    with open_db(db) as store:
        promotion = approve_promotion(
            store, found, version, caller=_caller(store, key), reason=reason
        )
    if promotion["state"] == "approved":
        console.print(f"Version [bold]{escape(version)}[/] is the champion.", highlight=False)
        return
    left = promotion["approvals_required"] - len(promotion["approvals"])
    console.print(f"Approved; {left} more approval(s) needed.", highlight=False)


@models_app.command("withdraw")
def models_withdraw(
    app: AppArgument,
    version: VersionOption,
    reason: ReasonOption,
    key: KeyOption = None,
    db: DbOption = None,
) -> None:
    """Withdraw a pending promotion."""
    from doorstep.services.rollout.promotion import withdraw_promotion

    with open_db(db) as store:
        withdraw_promotion(store, app, version, caller=_caller(store, key), reason=reason)
    console.print(f"Promotion of version {escape(version)} withdrawn.", highlight=False)


@models_app.command("rollback")
def models_rollback(
    app: AppArgument, reason: ReasonOption, key: KeyOption = None, db: DbOption = None
) -> None:
    """Make the previous champion the champion again, at once (servers switch within their
    stage poll)."""
    from doorstep.services.rollout.stages import rollback

    with open_db(db) as store:
        old, new = rollback(store, app, caller=_caller(store, key), reason=reason)
    console.print(
        f"Rolled back app {escape(app)}: version [bold]{escape(new)}[/] is the champion, "
        f"{escape(old)} is retired.",
        highlight=False,
    )


@models_app.command("canary")
def models_canary(
    app: AppArgument,
    version: Annotated[
        str | None, typer.Option("--version", help="The version to try.", show_default=False)
    ] = None,
    share: Annotated[
        float, typer.Option(min=0, max=50, help="Percent of the entities it decides.")
    ] = 10.0,
    stop: Annotated[bool, typer.Option("--stop", help="Stop the canary.")] = False,
    reason: Annotated[str, typer.Option(help="Why: kept in the audit trail.")] = "",
    key: KeyOption = None,
    db: DbOption = None,
) -> None:
    """Let a version decide a share of the entities (a stable hash of the entity id), or
    change its share, or --stop it."""
    from doorstep.services.rollout import stages

    with open_db(db) as store:
        caller = _caller(store, key)
        if stop:
            stopped = stages.stop_canary(store, app, caller=caller, reason=reason)
            console.print(f"Canary {escape(stopped)} stopped.", highlight=False)
            return
        if version is None:
            raise typer.BadParameter("give --version, or --stop", param_hint="--version")
        stages.start_canary(store, app, version, share / 100, caller=caller, reason=reason)
    console.print(
        f"Version [bold]{escape(version)}[/] decides {share:g}% of the entities of {escape(app)}.",
        highlight=False,
    )


@models_app.command("shadow")
def models_shadow(
    app: AppArgument,
    version: Annotated[
        str | None, typer.Option("--version", help="The version to try.", show_default=False)
    ] = None,
    stop: Annotated[bool, typer.Option("--stop", help="Stop the shadow.")] = False,
    reason: Annotated[str, typer.Option(help="Why: kept in the audit trail.")] = "",
    key: KeyOption = None,
    db: DbOption = None,
) -> None:
    """Let a version score every request beside the champion, never acted on; or --stop it."""
    from doorstep.services.rollout import stages

    with open_db(db) as store:
        caller = _caller(store, key)
        if stop:
            stopped = stages.stop_shadow(store, app, caller=caller, reason=reason)
            console.print(f"Shadow {escape(stopped)} stopped.", highlight=False)
            return
        if version is None:
            raise typer.BadParameter("give --version, or --stop", param_hint="--version")
        stages.start_shadow(store, app, version, caller=caller, reason=reason)
    console.print(
        f"Version [bold]{escape(version)}[/] scores every request of {escape(app)} in shadow.",
        highlight=False,
    )
