"""The run scheduler inside ``doorstep serve``: a background thread starting the spec's scheduled
runs (see :mod:`doorstep.runtime.run_scheduler`). Every worker process runs one; a lease in the
store lets one of them act at a time. ``--no-schedules`` turns it off."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager

from doorstep.runtime.run_scheduler import ScheduledRunStore, Scheduler
from doorstep.runtime.threads import background
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.decide.features import FeatureLookup

__all__ = ["scheduling"]


@contextmanager
def scheduling(
    apps: Iterable[LoadedApp],
    store: ScheduledRunStore,
    *,
    enabled: bool = True,
    lookups: Mapping[str, FeatureLookup] | None = None,
    current: Callable[[str], LoadedApp] | None = None,
) -> Iterator[Scheduler | None]:
    """Run a scheduler for ``apps`` while the block runs (when enabled and any has schedules);
    ``current`` gives an app as served now (its model versions switch)."""
    scheduled = [app for app in apps if app.spec.schedules]
    if not enabled or not scheduled:
        yield None
        return
    scheduler = Scheduler(scheduled, store, lookups=dict(lookups or {}), current=current)
    try:
        with background(scheduler.run_forever, name="doorstep-scheduler", late="its run resumes"):
            yield scheduler
    finally:
        scheduler.close()
