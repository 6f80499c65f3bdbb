"""One handler reports a ``DoorstepError`` raised in any command: ``error (code): message`` on
standard error, nothing on standard output, exit status 1."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
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
