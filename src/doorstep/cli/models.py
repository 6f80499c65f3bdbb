"""``doorstep models …``: the command group of an app's model versions (see docs/rollout.md).
The commands that report on versions are in :mod:`.model_reports`."""

from __future__ import annotations

from doorstep.cli.errors import command_group

__all__ = ["models_app"]

models_app = command_group(
    help="Model versions of an app: backtest a candidate, compare champion and challenger.",
    no_args_is_help=True,
)
