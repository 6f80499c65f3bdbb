"""How the command line shows things: tables, progress bars, explained decisions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

if TYPE_CHECKING:
    from doorstep.core.spec.models import Spec
    from doorstep.services.apps.loading import LoadedApp
    from doorstep.services.outcomes.ingest import ImportSummary
    from doorstep.services.outcomes.training import ExportSummary
    from doorstep.services.runs.files import ScoreSummary
    from doorstep.store.protocols import ApiKey
    from doorstep.web.server import Server

__all__ = [
    "Bar",
    "app_summary",
    "created",
    "explained_decisions",
    "keys_table",
    "outcomes_imported",
    "next_steps",
    "progress",
    "score_summary",
    "serving",
    "training_data_written",
    "try_the_api",
    "warnings",
]


class Bar:
    """Progress of a scoring run: rows done, rows/s and time left."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID = progress.add_task("Scoring", total=None)

    def total(self, rows: int | None) -> None:
        self._progress.update(self._task, total=rows)

    def advance(self, rows: int) -> None:
        self._progress.advance(self._task, rows)


class _RowsPerSecond(TextColumn):
    def __init__(self) -> None:
        super().__init__("")

    def render(self, task: object) -> str:  # type: ignore[override]
        speed = getattr(task, "speed", None)
        return f"{speed:,.0f} rows/s" if speed else ""


@contextmanager
def progress(console: Console) -> Iterator[Bar]:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RowsPerSecond(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        yield Bar(bar)


def warnings(console: Console, messages: tuple[str, ...]) -> None:
    for message in messages:
        console.print(f"[yellow]warning[/]: {message}", highlight=False)


def created(console: Console, directory: Path, files: list[Path]) -> None:
    console.print(f"Created [bold]{directory}/[/]:")
    for path in files:
        console.print(f"  {path.relative_to(directory)}")
    console.print(
        f"\nNext: [bold]doorstep validate {directory}/doorstep.yaml[/] and "
        f"[bold]doorstep score {directory}/customers.parquet --spec {directory}/doorstep.yaml "
        f"--out decisions.parquet[/]"
    )


def app_summary(console: Console, app: LoadedApp) -> None:
    spec, meta = app.spec, app.model.metadata
    warnings(console, app.warnings)
    console.print(f"[bold green]✓[/] {app.doc.file} is valid", soft_wrap=True, highlight=False)
    table = Table(show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("app", f"{spec.app.name} — {spec.app.description} (owner {spec.app.owner})")
    table.add_row(
        "model",
        f"{meta.kind} {meta.library_version}, {spec.model.task}, version {app.model_version}",
    )
    table.add_row("hash", meta.content_hash)
    table.add_row(
        "inputs",
        f"{len(spec.inputs.fields)} fields, {len(spec.feature_fields)} "
        f"used by the model; id {spec.inputs.id}",
    )
    if app.reference is not None:
        table.add_row("reference", f"{app.reference.height:,} rows checked")
    if app.additivity_error is not None:
        table.add_row(
            "explanations", f"additive on reference rows (max error {app.additivity_error:.1e})"
        )
    from doorstep.core.ports import ExplainerChoice  # here: the ports load polars

    if isinstance(app.model, ExplainerChoice):
        compiled = app.model.explainer_precomputation()
        if compiled is not None:
            seconds, size = compiled
            table.add_row(
                "explainer",
                f"linear-treeshap, trees compiled at load in {seconds:.2f} s, "
                f"{size / 2**20:.1f} MB",
            )
    rules = [
        f"{i + 1}. {r.when} → {r.action}{' (review)' if r.review else ''}"
        for i, r in enumerate(spec.policy.rules)
    ]
    table.add_row("policy", "\n".join([*rules, f"otherwise → {spec.policy.default}"]))
    if spec.policy.control_group:
        table.add_row("control group", f"{spec.policy.control_group:.0%} of entities")
    table.add_row("actions", ", ".join(spec.actions) or "none")
    console.print(table)


def score_summary(console: Console, summary: ScoreSummary) -> None:
    table = Table(title="Scoring summary", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("rows read", f"{summary.rows:,}")
    table.add_row("decided", f"{summary.decided:,}")
    table.add_row("rejected", f"{summary.rejected_rows:,}")
    table.add_row("explained", f"{summary.explained:,}")
    for action, count in sorted(summary.actions.items(), key=lambda kv: -kv[1]):
        table.add_row(f"  action {action}", f"{count:,}")
    for status, count in sorted(summary.statuses.items()):
        table.add_row(f"  status {status}", f"{count:,}")
    table.add_row("time", f"{summary.seconds:.2f} s ({summary.rows_per_second:,.0f} rows/s)")
    console.print(table)
    console.print(f"Decisions: [bold]{summary.output}[/]   Rejects: [bold]{summary.rejects}[/]")


def explained_decisions(console: Console, decisions: Path, count: int) -> None:
    """Show the ``count`` highest-scoring explained decisions, one panel each."""
    import polars as pl

    frame = (
        pl.scan_parquet(decisions)
        .filter(pl.col("reasons").is_not_null())
        .sort("score", descending=True)
        .head(count)
        .collect()
    )
    for row in frame.iter_rows(named=True):
        lines = [
            f"score [bold]{row['score']:.2f}[/] → action [bold]{row['action']}[/]"
            f" ({row['rule'] or 'default'}, {row['status'].replace('_', ' ')})"
        ]
        lines += [f"  • {reason['sentence']}" for reason in row["reasons"]]
        console.print(Panel("\n".join(lines), title=f"{row['entity_id']}", title_align="left"))


def next_steps(console: Console, directory: Path) -> None:
    console.print(
        f"The app lives in [bold]{directory}/[/]: edit [bold]{directory}/doorstep.yaml[/], then "
        f"[bold]doorstep validate {directory}/doorstep.yaml[/]. Docs: docs/quickstart.md"
    )


def try_the_api(console: Console, customers: Path, spec: Spec, port: int) -> None:
    """A curl command that decides one of the sample customers through the API."""
    import polars as pl

    record = pl.read_parquet(customers).head(1).row(0, named=True)
    body = json.dumps({k: v for k, v in record.items() if v is not None}, default=str)
    url = f"http://127.0.0.1:{port}/v1/apps/{spec.app.name}/decisions"
    console.print(
        "\nTry the API in another terminal, with the admin key the demo prints below "
        "(or one from [bold]doorstep keys create --role client --name me[/]):\n"
        f"  KEY=<the key>\n"
        f"  curl -s -H \"Authorization: Bearer $KEY\" -H 'Content-Type: application/json' \\\n"
        f"       -d '{body}' \\\n       {url}\n",
        soft_wrap=True,
        highlight=False,
    )


def keys_table(keys: list[ApiKey]) -> Table:
    """API keys, one row each; the secret is never known, only its first characters."""
    table = Table("id", "name", "role", "prefix", "created", "last used", "revoked")
    for key in keys:
        table.add_row(
            key.id,
            key.name,
            key.role,
            key.prefix + "…",
            key.created_at.strftime("%Y-%m-%d %H:%M"),
            key.last_used_at.strftime("%Y-%m-%d %H:%M") if key.last_used_at else "never",
            key.revoked_at.strftime("%Y-%m-%d %H:%M") if key.revoked_at else "",
        )
    return table


def outcomes_imported(
    console: Console, errors: Console, summary: ImportSummary, source: Path
) -> None:
    """What an outcomes import recorded; unmatched outcomes by reason; the first refused rows
    (on ``errors``)."""
    recorded = summary.recorded
    console.print(
        f"[bold]{summary.rows}[/] rows of {source.name} for app [bold]{summary.app}[/]: "
        f"{recorded.recorded} recorded ({recorded.matched} matched to a decision), "
        f"{recorded.duplicates} already recorded, {summary.refused} refused "
        f"({summary.seconds:.1f} s)",
        highlight=False,
        soft_wrap=True,
    )
    if recorded.unmatched:
        from doorstep.store.feedback import UNMATCHED_REASONS

        for reason, count in sorted(recorded.unmatched.items()):
            console.print(f"  {count} unmatched: {UNMATCHED_REASONS[reason]} ({reason})")
    for error in summary.first_errors[:10]:
        errors.print(
            f"row {error.record} {error.field or ''} ({error.rule}): {error.message}",
            highlight=False,
            soft_wrap=True,
        )
    if summary.rejects is not None:
        errors.print(f"Every refused row is in {summary.rejects}.", highlight=False)


def training_data_written(console: Console, summary: ExportSummary) -> None:
    console.print(
        f"Wrote {summary.rows} decisions ({summary.labelled} with an outcome, "
        f"{summary.columns} columns) to [bold]{summary.path}[/] in {summary.seconds:.1f} s",
        highlight=False,
        soft_wrap=True,
    )


def serving(console: Console, server: Server, base: str) -> None:
    """Where the API and its docs are; on the store's first start, the admin key (shown once)."""
    console.print(f"Serving [bold]{server.names}[/] on {base} — API docs: [link]{base}/docs[/]")
    console.print(f"Decide: POST {base}/v1/apps/<app>/decisions    store: {server.store.url}")
    warnings(console, tuple(getattr(server.app.state, "warnings", ())))
    if server.admin_key is not None:
        console.print(
            "\n[bold]Admin API key (shown once, store it now):[/]\n"
            f"  {server.admin_key}\n"
            "Make keys for clients with: doorstep keys create --role client --name NAME\n"
        )
