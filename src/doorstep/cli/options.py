"""Options and arguments that more than one command takes, declared once, and what they stand
for: the store a ``--db`` names (:func:`open_db`), a time of ``--since``/``--until``
(:func:`parse_time`), and who runs the command, as the audit trail records it (:func:`actor`).
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from doorstep.errors import InputError
from doorstep.store.protocols import StoreContract  # light: no SQLAlchemy

__all__ = [
    "AppSpecArgument",
    "DbOption",
    "DbPoolSizeOption",
    "DriftOption",
    "InputFormatOption",
    "PeriodsOption",
    "PublicUrlOption",
    "SinceOption",
    "SpecOption",
    "SpecOrAppOption",
    "SpecsArgument",
    "UntilOption",
    "WindowOption",
    "actor",
    "app_spec",
    "open_db",
    "parse_time",
    "profiles_for",
    "spec_path",
]

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL (sqlite:///PATH or postgresql://…). "
        "Default: DOORSTEP_DATABASE_URL, else .doorstep/doorstep.db.",
        show_default=False,
    ),
]
DbPoolSizeOption = Annotated[
    int | None,
    typer.Option(
        "--db-pool-size",
        min=1,
        max=100,
        help="Connections each process keeps open to the database; as many more open for a "
        "burst. Size it so that every process of every host fits the database's "
        "max_connections (see docs/scale.md).",
        show_default=False,
    ),
]
SpecOption = Annotated[
    Path, typer.Option("--spec", "-s", help="The app's doorstep.yaml.", dir_okay=False)
]
AppSpecArgument = Annotated[
    Path | None,
    typer.Argument(
        help="The app: its name (its spec found in the working directory or its folders), "
        "its doorstep.yaml, or the folder holding it (or give --spec).",
        show_default=False,
    ),
]
SpecOrAppOption = Annotated[
    Path | None,
    typer.Option(
        "--spec", "-s", help="The app's doorstep.yaml (instead of APP).", dir_okay=False,
        show_default=False,
    ),
]  # fmt: skip
SpecsArgument = Annotated[
    list[Path],
    typer.Argument(help="Spec files (doorstep.yaml), or folders of them.", show_default=False),
]
PublicUrlOption = Annotated[
    str | None,
    typer.Option(
        envvar="DOORSTEP_PUBLIC_URL",
        help="Base URL people reach the doorstep server at: deliveries and alerts link "
        "decisions and dashboards under it (serve's default: its own address).",
    ),
]
InputFormatOption = Annotated[
    str | None, typer.Option("--format", help="Input format if the suffix does not say.")
]

_TIME_HELP = "ISO 8601 time, e.g. 2025-03-01 or 2025-03-01T12:00:00Z."
SinceOption = Annotated[str | None, typer.Option(help=_TIME_HELP)]
UntilOption = Annotated[str | None, typer.Option(help=_TIME_HELP)]
WindowOption = Annotated[
    str | None,
    typer.Option(help="hour, day, week, month or N rows, e.g. 5000rows (default: the spec's)."),
]
PeriodsOption = Annotated[
    int | None, typer.Option(min=1, help="Windows to report when --since is not given.")
]
DriftOption = Annotated[
    bool,
    typer.Option(
        "--drift/--no-drift",
        help="Compare each window with the spec's reference data (loads the model once).",
    ),
]


def parse_time(value: str | None, name: str) -> datetime | None:
    """The time an option gave (UTC when it names no zone), or ``None`` when it gave none."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"--{name} must be an ISO 8601 time such as 2025-03-01T12:00:00Z. Got {value!r} "
            "instead."
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@contextmanager
def open_db(db: str | None) -> Iterator[StoreContract]:
    """The store ``--db`` names (``None``: ``DOORSTEP_DATABASE_URL``, else ``.doorstep/``),
    closed when the block ends."""
    from doorstep.store import open_store

    store = open_store(db)
    try:
        yield store
    finally:
        store.close()


def profiles_for(db: str | None) -> Path:
    """Where reference profiles are kept for the store ``--db`` names: ``profiles/`` beside its
    SQLite file, else (PostgreSQL) ``.doorstep/profiles`` under the working directory."""
    from doorstep.store.engine import store_home
    from doorstep.store.home import DEFAULT_HOME

    return store_home(db, DEFAULT_HOME) / "profiles"


def actor() -> str:
    """Who runs the command, as the audit trail records it: ``cli:<user name>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # pragma: no cover - no user name in some containers
        return "cli"


def spec_path(app: Path) -> Path:
    """The spec of ``APP``: the file itself, ``doorstep.yaml`` in the folder, or the spec of the
    app of that name in the working directory or its folders (as ``doorstep models list``)."""
    if app.exists():
        return app / "doorstep.yaml" if app.is_dir() else app
    from doorstep.services.rollout.specs import find_spec

    return find_spec([Path(".")], str(app))[0]


def app_spec(app: Path | None, spec: Path | None) -> Path:
    """The spec of a command that takes ``APP`` (see :func:`spec_path`) or ``--spec``."""
    if app is not None and spec is not None:
        raise InputError(f"Give the app ({app}) or --spec ({spec}), not both.")
    if spec is not None:
        return spec
    if app is None:
        raise InputError("Name the app (e.g. churn) or give its doorstep.yaml with --spec.")
    return spec_path(app)
