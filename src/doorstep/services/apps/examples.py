"""Create example apps (``doorstep init --example``)."""

from __future__ import annotations

from pathlib import Path

from doorstep.core.suggest import did_you_mean
from doorstep.errors import ExampleError
from doorstep.examples import EXAMPLES
from doorstep.services.apps.loading import LoadedApp
from doorstep.store.protocols import DecisionStore

__all__ = ["create_example", "decide_sample"]


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
