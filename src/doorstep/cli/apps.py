"""``doorstep init``, ``doorstep validate`` and ``doorstep schema``: an app's spec from the
command line (start from an example, check it, give editors its schema)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from doorstep.cli import render
from doorstep.cli.console import console

__all__ = ["init", "schema", "validate"]


def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create the app in.")],
    example: Annotated[str, typer.Option(help="Example to start from.")] = "churn",
    force: Annotated[bool, typer.Option(help="Overwrite files in a non-empty folder.")] = False,
) -> None:
    """Write a complete, runnable example app: spec, trained model, reference and sample data."""
    from doorstep.services.apps.examples import create_example

    with console.status(f"Generating data and training the {example} model…"):
        files = create_example(directory, example, force=force)
    render.created(console, directory, files)


def validate(
    spec: Annotated[Path, typer.Argument(help="The app's doorstep.yaml.", dir_okay=False)],
) -> None:
    """Check a spec, its model, its reference data, its connectors' settings and its feature
    sources (connected to: tables, columns, hosts); exit 1 with every problem found."""
    from doorstep.services.apps.checks import check_app

    render.app_summary(console, check_app(spec))


def schema() -> None:
    """Print the JSON Schema of doorstep.yaml (for editors: completion and checks)."""
    from doorstep.core.spec.models import Spec

    document = Spec.model_json_schema(by_alias=True)
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "doorstep app spec"
    typer.echo(json.dumps(document, indent=2))
