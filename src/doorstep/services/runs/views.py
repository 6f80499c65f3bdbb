"""Runs as people and programs read them: one run's view (the API, ``doorstep runs show``),
pages of runs, one run by id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from doorstep.errors import NotFoundError
from doorstep.store.protocols import RunStore
from doorstep.store.runs import RunInfo, RunPage, RunQuery

__all__ = ["get_run", "list_runs", "run_view"]


def run_view(run: RunInfo) -> dict[str, Any]:
    """A run as the API and ``doorstep runs show --json`` show it."""

    def iso(moment: datetime | None) -> str | None:
        return None if moment is None else moment.isoformat()

    return {
        "run_id": run.id,
        "app": run.app,
        "schedule": run.schedule,
        "slot": iso(run.slot),
        "source": run.source,
        "state": run.state,
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "checkpoint": run.checkpoint,
        "rows": run.rows,
        "decided": run.decided,
        "rejected": run.rejected,
        "deliveries": run.deliveries,
        "attempts": run.attempts,
        "error": run.error,
        "errors": run.errors,
    }


def list_runs(store: RunStore, query: RunQuery) -> RunPage:
    """A page of runs matching ``query``, newest first."""
    return store.list_runs(query)


def get_run(store: RunStore, run_id: str) -> RunInfo:
    """The run, or :class:`NotFoundError` naming the id."""
    run = store.get_run(run_id)
    if run is None:
        raise NotFoundError(f"There is no run {run_id!r}; `doorstep runs list` shows the ids.")
    return run
