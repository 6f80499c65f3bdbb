"""How ``doorstep card`` shows its progress and the file it wrote."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from doorstep.cli.console import console
from doorstep.cli.monitor_render import report_steps

if TYPE_CHECKING:
    from doorstep.services.governance.card import Stage
    from doorstep.services.governance.card_file import WrittenCard

__all__ = ["steps", "written"]


@contextmanager
def steps() -> Iterator[Stage]:
    """The transient progress bar of the stages (the monitoring report's)."""
    with report_steps() as stage:
        yield stage


def written(done: WrittenCard) -> None:
    """One line on the card written: where, how big, what it covers."""
    card = done.card
    loads = ", loads nothing" if done.format == "html" else ""
    fairness = ", ".join(a.attribute for a in card.fairness.attributes) if card.fairness else "none"
    console.print(
        f"Wrote [bold]{done.path}[/] ({done.size / 1024:.0f} KB{loads}): model card of "
        f"{card.app} version {card.model_version}, owner {card.owner}; "
        f"{card.monitoring.counts.decisions} decisions, {card.monitoring.counts.labelled} with "
        f"an outcome; fairness by {fairness}; {len(card.versions)} registered versions.",
        highlight=False,
        soft_wrap=True,
    )
