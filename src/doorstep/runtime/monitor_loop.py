"""The monitor inside ``doorstep serve``: a background thread keeping each app's monitor
schedule and raising its alerts (see :mod:`doorstep.runtime.monitor_scheduler`). Every worker
process runs one; a lease in the store lets one of them act at a time. ``--no-schedules`` turns
it off, as it does the scheduled runs.

The runs themselves go to a child process at a lower CPU priority
(:mod:`doorstep.runtime.monitor_process`), started and loaded right after start-up: a run
takes seconds of CPU, which in the server's own process would stall its requests (the GIL) and
compete with them for the cores."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from doorstep.runtime.monitor_process import DEFAULT_IDLE, DEFAULT_NICE, MonitorProcess
from doorstep.runtime.monitor_scheduler import MonitorScheduler, ScheduledMonitorStore
from doorstep.runtime.threads import background
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.monitor.drift import ProfileCache

__all__ = ["alerting"]


@contextmanager
def alerting(
    apps: Iterable[LoadedApp],
    store: ScheduledMonitorStore,
    *,
    profiles: ProfileCache,
    enabled: bool = True,
    in_child_process: bool = True,
    nice: int = DEFAULT_NICE,
    idle: bool = DEFAULT_IDLE,
    public_url: str | None = None,
    on_alerts: Callable[[], None] | None = None,
) -> Iterator[MonitorScheduler | None]:
    """Run the scheduled monitors of ``apps`` while the block runs (when enabled and any has
    ``monitoring.alerts.schedule``). ``on_alerts`` is called after a run wrote messages (to
    wake the dispatcher); ``in_child_process=False`` runs them in the thread itself, else the
    child runs ``nice`` lower and, with ``idle``, in the idle scheduling class."""
    monitored = [
        app
        for app in apps
        if app.spec.monitoring.alerts is not None and app.spec.monitoring.alerts.schedule
    ]
    if not enabled or not monitored:
        yield None
        return
    process = (
        _monitor_process(store, profiles, public_url, monitored, nice=nice, idle=idle)
        if in_child_process
        else None
    )
    monitor = MonitorScheduler(
        monitored,
        store,
        profiles=profiles,
        public_url=public_url,
        on_alerts=on_alerts,
        runner=process.run if process is not None else None,
    )
    try:
        with background(monitor.run_forever, name="doorstep-monitor", late="its run resumes"):
            yield monitor
    finally:
        if process is not None:
            process.close()


def _monitor_process(
    store: ScheduledMonitorStore,
    profiles: ProfileCache,
    public_url: str | None,
    apps: list[LoadedApp],
    *,
    nice: int,
    idle: bool,
) -> MonitorProcess | None:
    """The child process for the runs, warming up; ``None`` (runs in the thread) when the store
    has no URL a child could open."""
    engine = getattr(store, "engine", None)
    if engine is None:
        return None
    process = MonitorProcess(
        engine.url.render_as_string(hide_password=False),
        profiles=profiles.directory,
        public_url=public_url,
        nice=nice,
        idle=idle,
    )
    process.warm(apps)
    return process
