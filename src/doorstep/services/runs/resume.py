"""Resuming a run: a failed run, or one whose runner died (its lease expired), goes on after its
checkpoint under the same run id, with the options it started with.

Its decisions keep their ids: a run's decision ids are derived from the run and the entity
(:func:`~doorstep.services.runs.sources.run_decision_ids`), and a chunk recorded again records
nothing twice, so receivers see each action's ``webhook-id`` once however often a run resumes.
By hand (``doorstep runs resume``), the command runs what is left itself; through the API
(``POST /v1/runs/{id}/resume``) a scheduled run is handed back to the scheduler, which takes it
over on its next tick.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from doorstep.errors import ConflictError, InputError
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.runs.file_runs import FileOrigin, run_file
from doorstep.services.runs.sources import BY_HAND_LEASE_SECONDS, RunOptions, execute_run
from doorstep.services.runs.views import get_run
from doorstep.store.protocols import RunStore
from doorstep.store.runs import RunInfo, RunLease

__all__ = ["requeue_run", "resume_options", "resume_run"]

RESUMER = "doorstep runs resume"


def resume_run(
    app: LoadedApp, store: RunStore, run_id: str, *, actor: str, url: str | None = None
) -> RunInfo:
    """Run what is left of ``run_id`` (an app of ``app``) here and now, and return it finished;
    ``actor`` is who asked (audit: ``runs.resumed``). A run from ``--url``/``--query`` needs its
    ``url`` again (never stored)."""
    from doorstep.sources.adhoc import open_scan

    run = get_run(store, run_id)
    if run.app != app.name:
        raise InputError(
            f"Run {run.id} is a run of app {run.app!r}, not {app.name!r}: give that app's spec"
        )
    _check_resumable(run, datetime.now(UTC))
    if run.options.get("engine") == "spark":
        raise InputError(
            f"Run {run.id} was decided on Spark ({run.source}) and cannot be resumed here: "
            "score the dataset again with doorstep score --engine spark --record (a new run)"
        )
    options = resume_options(app, run)
    if "file" in run.options:
        return _resume_file(app, store, run, options, actor=actor, url=url)
    if options.query is not None:
        if url is None:
            raise InputError(
                f"Run {run.id} read a query (--url and --query): give --url again (a URL is "
                "never stored, it may hold a password); the query is the one it started with"
            )
        scan = open_scan(app, None, url, options.query)
    else:
        if url is not None:
            raise InputError(
                f"Run {run.id} reads the source {run.source!r} of the spec: --url is only for "
                "runs from a query"
            )
        scan = open_scan(app, run.source, None, None)
    try:
        lease = _hold(store, run, actor)
        resumed = replace(options, lease_seconds=BY_HAND_LEASE_SECONDS, actor=RESUMER)
        return execute_run(app, scan, store, lease, resumed)
    finally:
        scan.close()


def _resume_file(
    app: LoadedApp,
    store: RunStore,
    run: RunInfo,
    options: RunOptions,
    *,
    actor: str,
    url: str | None,
) -> RunInfo:
    """A file run (``doorstep score FILE --record``) goes on after its checkpoint, the number
    of rows done, reading the same file: refused when it is gone or changed."""
    if url is not None:
        raise InputError(
            f"Run {run.id} reads a file ({run.source}): --url is only for runs from a query"
        )
    origin = FileOrigin.from_run(run)
    origin.check_unchanged(run.id, int(run.checkpoint or 0))
    lease = _hold(store, run, actor)
    resumed = replace(options, lease_seconds=BY_HAND_LEASE_SECONDS, actor=RESUMER)
    kept = run.options.get("import")
    if isinstance(kept, dict):  # doorstep decisions import: decided as imports are
        from doorstep.services.runs.imports import ImportColumns, import_decider

        columns = ImportColumns.from_stored(kept)
        decide = import_decider(app, columns, run.id)
        return run_file(app, store, lease, resumed, origin, decide=decide)
    return run_file(app, store, lease, resumed, origin)


def _hold(store: RunStore, run: RunInfo, actor: str) -> RunLease:
    if not store.reopen_run(run.id, actor=actor):
        raise ConflictError(f"Run {run.id} changed meanwhile: {_state(get_run(store, run.id))}")
    lease = store.take_over_run(run.id, runner=RESUMER, lease_seconds=BY_HAND_LEASE_SECONDS)
    if lease is None:
        raise ConflictError(f"Run {run.id} was taken over by another runner first.")
    return lease


def requeue_run(store: RunStore, run_id: str, *, actor: str) -> RunInfo:
    """Hand a failed scheduled run back to the scheduler: it is running again, with an expired
    lease, and the server holding the scheduler's lease takes it over on its next tick;
    ``actor`` is who asked (audit: ``runs.resumed``)."""
    run = get_run(store, run_id)
    if run.schedule is None:
        raise ConflictError(
            f"Run {run.id} was started by hand, and only where its source is known can it go "
            f"on: run `doorstep runs resume {run.id} --spec doorstep.yaml` there."
        )
    _check_resumable(run, datetime.now(UTC))
    if not store.reopen_run(run.id, actor=actor):
        raise ConflictError(f"Run {run.id} changed meanwhile: {_state(get_run(store, run.id))}")
    return get_run(store, run.id)


def resume_options(app: LoadedApp, run: RunInfo) -> RunOptions:
    """The options ``run`` started with; for a run from before they were kept, its schedule's
    (a run by hand then resumes without delivering, as ``doorstep score`` starts)."""
    schedule = app.spec.schedules.get(run.schedule) if run.schedule is not None else None
    if schedule is not None:
        default = RunOptions(
            chunk_rows=schedule.chunk_rows, deliver=schedule.deliver, explain=schedule.explain
        )
    else:
        default = RunOptions(deliver=False)
    kept: dict[str, Any] = run.options
    explain = kept.get("explain", default.explain)
    return RunOptions(
        chunk_rows=int(kept.get("chunk_rows", default.chunk_rows)),
        deliver=bool(kept.get("deliver", default.deliver)),
        explain=None if explain is None else bool(explain),
        query=kept.get("query"),
    )


def _check_resumable(run: RunInfo, now: datetime) -> None:
    if run.state == "failed":
        return
    if run.state == "running" and run.lease_expires_at is not None and run.lease_expires_at < now:
        return
    raise ConflictError(f"Run {run.id} cannot be resumed: {_state(run)}")


def _state(run: RunInfo) -> str:
    if run.state == "succeeded":
        return "it succeeded, every entity was decided"
    if run.state == "skipped":
        return f"it was skipped ({run.error}); nothing of it ran"
    if run.state == "running":
        return (
            f"it is running, held by {run.runner} until {run.lease_expires_at:%Y-%m-%d %H:%M:%S}"
            " UTC; a run whose runner died can be resumed once that lease has expired"
            if run.lease_expires_at is not None
            else "it is running"
        )
    return f"it is {run.state}"
