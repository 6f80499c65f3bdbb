"""Example apps: written by ``doorstep init --example``, and the demo's sample decided through the
service with a queue of cases and the keys to work it (``doorstep demo``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from doorstep.core.suggest import did_you_mean
from doorstep.errors import ExampleError
from doorstep.examples import EXAMPLES
from doorstep.services.apps.loading import LoadedApp
from doorstep.store.protocols import DecisionStore, KeyStore, ReviewStore
from doorstep.store.views import QueueQuery

__all__ = ["DemoQueue", "DemoStore", "create_example", "decide_sample", "prepare_demo_queue"]


def create_example(directory: Path, name: str, *, force: bool = False) -> list[Path]:
    """Write example ``name`` into ``directory``; refuse to overwrite files unless ``force``."""
    if name not in EXAMPLES:
        raise ExampleError(
            f"unknown example {name!r}{did_you_mean(name, list(EXAMPLES))}; "
            f"available: {', '.join(EXAMPLES)}"
        )
    if directory.exists() and any(directory.iterdir()) and not force:
        raise ExampleError(
            f"{directory} is not empty; choose a new folder or pass --force to overwrite"
        )
    from doorstep.examples.churn import write_example

    return write_example(directory)


def decide_sample(
    app: LoadedApp,
    store: DecisionStore,
    records: Path,
    *,
    count: int,
    actor: str = "doorstep demo",
    batch: int = 500,
) -> int:
    """Decide the first ``count`` records of a file through the service's own path (recorded
    with their deliveries, borderline cases held for review); returns how many were decided."""
    import polars as pl

    from doorstep.services.decide.online import OnlineRequest, decide_requests

    frame = pl.read_parquet(records).head(count)
    rows = [{k: v for k, v in r.items() if v is not None} for r in frame.iter_rows(named=True)]
    decided = 0
    for start in range(0, len(rows), batch):
        request = OnlineRequest(rows[start : start + batch], single=False, actor=actor)
        _, tally = decide_requests(app, store, [request])
        decided += sum(tally.actions.values())
    return decided


@dataclass(frozen=True)
class DemoQueue:
    """What the demo prepared for its reviewer: the cases waiting, and the keys to work them."""

    waiting: int
    """Decisions of the app that wait for a verdict."""
    reviewer_secret: str
    """A new reviewer key's secret (shown once)."""
    admin_secret: str | None
    """The first run's admin key (``None`` when the store had a key already)."""


class DemoStore(DecisionStore, ReviewStore, KeyStore, Protocol):
    """What the demo's queue needs: decisions recorded, the queue read, keys made."""


def prepare_demo_queue(
    app: LoadedApp, store: DemoStore, records: Path, *, count: int, actor: str = "doorstep demo"
) -> DemoQueue:
    """Decide ``count`` records of the sample into the store (once: when no case waits yet), and
    make the keys the demo prints: an admin key on the first run, a new reviewer key."""
    from doorstep.services.governance.keys import create_key, ensure_admin_key

    # before the reviewer key: serve prints an admin key only when the store has no key
    admin = ensure_admin_key(store, actor=actor)
    query = QueueQuery((app.name,), limit=1)
    waiting = store.review_queue(query, now=datetime.now(UTC)).total
    if waiting == 0:
        decide_sample(app, store, records, count=count, actor=actor)
        waiting = store.review_queue(query, now=datetime.now(UTC)).total
    _key, secret = create_key(store, "demo-reviewer", "reviewer", actor=actor)
    return DemoQueue(waiting=waiting, reviewer_secret=secret, admin_secret=admin)
