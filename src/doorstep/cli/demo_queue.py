"""The demo's last step: decisions in the store with cases to review, the first run's admin key
and a reviewer key, so that ``doorstep demo --serve`` ends on the app's dashboard with a queue to
work and a key to call the API with."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from doorstep.services.apps.loading import LoadedApp

__all__ = ["prepare_review_queue"]

SAMPLE = 400


def prepare_review_queue(console: Console, app: LoadedApp, customers: Path, port: int) -> None:
    from doorstep.services.apps.examples import prepare_demo_queue
    from doorstep.store import open_store

    with open_store() as store:
        prepared = prepare_demo_queue(app, store, customers, count=SAMPLE)
    admin, secret = prepared.admin_secret, prepared.reviewer_secret
    base = f"http://127.0.0.1:{port}"
    if admin is not None:
        console.print(
            f"\n[bold]Admin API key (shown once, store it now):[/]\n  {admin}\n",
            highlight=False,
            soft_wrap=True,
        )
    else:
        console.print(
            "\nThe admin key was shown on the demo's first run; make another with "
            "[bold]doorstep keys create --role admin --name NAME[/].",
            highlight=False,
            soft_wrap=True,
        )
    console.print(
        f"\n[bold]{prepared.waiting} cases wait for a reviewer.[/] Open the dashboard "
        f"[link]{base}/apps/{app.name}[/] and sign in with this reviewer key (shown once):\n"
        f"  {secret}\n"
        f"Then work the queue at {base}/review (keys: n next, a approve, o override).\n",
        highlight=False,
        soft_wrap=True,
    )
