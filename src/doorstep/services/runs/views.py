"""Runs as people and programs read them: one run's view (the API, ``doorstep runs show``),
what its state means now (:func:`state_label`, :func:`state_detail`), pages of runs, one run
by id.

A ``running`` run is **stale** when its lease has expired: its runner renews the lease with
every chunk it commits, so an expired lease means the runner stopped (crashed, was killed, lost
its machine) and the run goes on only when another takes it over — the scheduler, for a
scheduled run; ``doorstep runs resume``, for a run by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from doorstep.errors import NotFoundError
from doorstep.store.protocols import RunStore
from doorstep.store.runs import RunInfo, RunPage, RunQuery

__all__ = [
    "duration_text",
    "get_run",
    "is_stale",
    "list_runs",
    "run_view",
    "state_detail",
    "state_label",
]


def is_stale(run: RunInfo, now: datetime) -> bool:
    """Running, but its runner stopped renewing its lease (see the module docstring)."""
    expires = run.lease_expires_at
    return run.state == "running" and expires is not None and expires < now


def state_label(run: RunInfo, now: datetime) -> str:
    """The state in a few words, for a table: ``running, lease expired 3 min ago``."""
    if is_stale(run, now):
        assert run.lease_expires_at is not None
        return f"running, lease expired {duration_text(now - run.lease_expires_at)} ago"
    return run.state


def state_detail(run: RunInfo, now: datetime) -> str | None:
    """What the state means and what happens next, in a sentence (``None``: nothing to say)."""
    if run.state == "running" and run.lease_expires_at is not None:
        if not is_stale(run, now):
            return (
                f"held by {run.runner}, whose lease runs until "
                f"{run.lease_expires_at:%Y-%m-%d %H:%M:%S} UTC (renewed with every chunk)"
            )
        stopped = (
            f"lease expired {duration_text(now - run.lease_expires_at)} ago: its runner "
            f"({run.runner or 'none yet'}) stopped renewing it; "
        )
        if run.schedule is not None:
            return stopped + (
                "a server running its schedule takes it over on its next tick and goes on "
                "after the checkpoint (or resume it: doorstep runs resume)"
            )
        return stopped + f"resume it with doorstep runs resume {run.id} --spec doorstep.yaml"
    if run.state == "failed":
        return f"resume it after its checkpoint: doorstep runs resume {run.id} --spec doorstep.yaml"
    if run.state == "skipped":
        return run.error
    return None


def duration_text(delta: timedelta) -> str:
    """``45 s``, ``3 min``, ``5 h 2 min``, ``3 days``: how long, for people."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h {minutes % 60} min"
    return f"{hours // 24} days"


def run_view(run: RunInfo, *, now: datetime | None = None) -> dict[str, Any]:
    """A run as the API and ``doorstep runs show`` show it (``now``: when it is looked at)."""
    now = now or datetime.now(UTC)

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
        "runner": run.runner,
        "lease_expires_at": iso(run.lease_expires_at),
        "stale": is_stale(run, now),
        "state_detail": state_detail(run, now),
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
