"""One handler reports a ``DoorstepError`` raised in any command: ``error (code): message`` on
standard error, nothing on standard output, exit status 1."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from doorstep.cli.main import app
from doorstep.errors import DoorstepError


class _Broken(DoorstepError):
    code = "broken_on_purpose"


def _raising(command: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(command)  # the same parameters, so the same arguments parse
    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise _Broken("the service failed [on purpose]\n  second line")

    return broken


def _break_every_command(typer_app: typer.Typer, monkeypatch: pytest.MonkeyPatch) -> None:
    for info in typer_app.registered_commands:
        assert info.callback is not None
        monkeypatch.setattr(info, "callback", _raising(info.callback))
    for group in typer_app.registered_groups:
        assert group.typer_instance is not None
        _break_every_command(group.typer_instance, monkeypatch)


def _leaves(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        if hasattr(sub, "commands"):
            yield from _leaves(sub, (*path, name))
        else:
            yield (*path, name), sub


def _required_arguments(command: Any) -> list[str]:
    """Values for the command's required arguments and options: "1" parses as any of their
    types (text, path, number)."""
    args: list[str] = []
    for param in command.params:
        if param.required:
            args += ["1"] if param.param_type_name == "argument" else [param.opts[0], "1"]
    return args


def test_every_command_reports_a_doorstep_error_the_same_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    leaves = list(_leaves(typer.main.get_command(app)))
    assert len(leaves) >= 24  # every command of doorstep, groups walked
    _break_every_command(app, monkeypatch)
    for path, command in leaves:
        result = CliRunner().invoke(app, [*path, *_required_arguments(command)])
        where = " ".join(path)
        assert result.exit_code == 1, (where, result.output, result.exception)
        assert result.stdout == "", where
        assert result.stderr == (
            "error (broken_on_purpose): the service failed [on purpose]\n  second line\n"
        ), where


def test_a_command_group_reports_doorstep_errors_on_its_own() -> None:
    from doorstep.cli.errors import command_group

    group = command_group()

    @group.command()
    def fail() -> None:
        raise _Broken("no")

    @group.command()
    def other() -> None:  # two commands: a group, as every group of doorstep's CLI
        """Nothing."""

    result = CliRunner().invoke(group, ["fail"])
    assert (result.exit_code, result.stderr) == (1, "error (broken_on_purpose): no\n")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://ana:s3cret-pw@db.example.com:54x2/doorstep",
        "postgresql://ana:s3cret-pw@db.example.com:abc/doorstep",
        "not a url at all s3cret-pw",
    ],
)
def test_a_database_url_that_cannot_be_read_is_an_error_not_a_traceback(url: str) -> None:
    result = CliRunner().invoke(app, ["keys", "list", "--db", url])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error (store_error): The database URL (--db or ")
    assert "s3cret" not in result.stderr  # the URL may hold a password: never echoed
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.slow
def test_a_short_session_secret_is_an_error_not_a_traceback(
    churn_app: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOORSTEP_SESSION_SECRET", "too-short")
    db = f"sqlite:///{tmp_path / 'doorstep.db'}"
    result = CliRunner().invoke(app, ["serve", str(churn_app / "doorstep.yaml"), "--db", db])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(
        "error (settings_invalid): DOORSTEP_SESSION_SECRET must be at least 32 characters"
    )
