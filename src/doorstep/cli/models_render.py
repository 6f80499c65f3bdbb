"""How ``doorstep models`` shows an app's versions and their stage history."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = ["history_table", "render_models", "versions_table"]

_STYLE = {"champion": "bold green", "canary": "yellow", "shadow": "cyan", "retired": "dim"}


def versions_table(versions: list[dict[str, Any]]) -> Table:
    table = Table("version", "stage", "hash", "registered", "by", "notes")
    for row in versions:
        stage = row["stage"]
        if stage == "canary" and row.get("canary_share") is not None:
            stage = f"canary {row['canary_share'] * 100:g}%"
        style = _STYLE.get(row["stage"], "")
        table.add_row(
            escape(row["version"]),
            f"[{style}]{stage}[/]" if style else stage,
            row["content_hash"].removeprefix("sha256:")[:12],
            str(row["registered_at"])[:16].replace("T", " "),
            escape(row.get("registered_by") or ""),
            escape(row.get("notes") or ""),
        )
    return table


def history_table(history: list[dict[str, Any]]) -> Table:
    table = Table("at", "version", "from", "to", "by", "reason")
    for change in history:
        to = change["to_stage"]
        if change.get("share") is not None:
            to = f"{to} {change['share'] * 100:g}%"
        table.add_row(
            str(change["at"])[:19].replace("T", " "),
            escape(change["version"]),
            change["from_stage"] or "",
            to,
            escape(change["actor"]),
            escape(change["reason"]),
        )
    return table


def render_models(console: Console, view: dict[str, Any]) -> None:
    """Versions, the pending promotion, and the governance of one app."""
    console.print(
        f"[bold]{escape(view['app'])}[/] — owner {escape(view['owner'])}", highlight=False
    )
    console.print(versions_table(view["versions"]))
    pending = view["pending_promotion"]
    if pending is not None:
        approvals = len(pending["approvals"])
        console.print(
            f"Pending promotion of version [bold]{escape(pending['version'])}[/] requested by "
            f"{escape(pending['requested_by'])}: {approvals} of "
            f"{pending['approvals_required']} approval(s).",
            highlight=False,
        )
    governance = view["governance"]
    revalidation = governance["revalidation"]
    if revalidation is not None:
        late = "[bold red]overdue[/]" if revalidation["overdue"] else "due"
        console.print(
            f"Revalidation every {revalidation['every']}: {late} {revalidation['due'][:10]}",
            highlight=False,
        )
