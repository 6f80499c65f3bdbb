"""How ``doorstep monitor`` shows refused records: per window with any arrival, what arrived,
what was refused and its share, and the fields and rules that refused the most."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from doorstep.types.rejects import RejectsSection

__all__ = ["TOP_RULES", "render_rejects"]

TOP_RULES = 3
"""Field/rule pairs named per window (the JSON holds them all)."""


def render_rejects(section: RejectsSection, out: Console, *, width: int) -> None:
    """Nothing when nothing was refused in the range; else a table of the windows with
    arrivals, and the share refused over the whole range."""
    if not section.rejected:
        out.print("Refused records: none in the range", highlight=False)
        return
    table = Table(title="Refused records (input contract)", title_justify="left")
    table.add_column("window", min_width=width)
    table.add_column("arrived", justify="right")
    table.add_column("refused", justify="right")
    table.add_column("rate", justify="right")
    table.add_column("most refused by (field: rule × count)", overflow="fold")
    for window in section.windows:
        if not window.arrived:
            continue
        rate = window.rate
        top = ", ".join(
            f"{rule.field or '(record)'}: {rule.rule} × {rule.count}"
            for rule in window.rules[:TOP_RULES]
        )
        table.add_row(
            window.start.isoformat()[:width],
            f"{window.arrived:,}",
            f"{window.rejected:,}",
            "—" if rate is None else f"{rate:.1%}",
            top,
        )
    out.print(table)
    rate = section.rate
    share = "—" if rate is None else f"{rate:.1%}"
    out.print(
        f"Refused: {section.rejected:,} of {section.rejected + section.decided:,} records "
        f"({share})",
        highlight=False,
    )
