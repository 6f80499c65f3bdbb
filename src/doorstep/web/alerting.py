"""The monitor inside ``doorstep serve``: a background thread keeping each app's monitor
schedule and raising its alerts (see :mod:`doorstep.services.monitor_schedule`). Every worker
process runs one; a lease in the store lets one of them act at a time. ``--no-schedules`` turns
it off, as it does the scheduled runs.

The runs themselves go to a child process at a lower CPU priority
(:mod:`doorstep.services.monitor_process`), started and loaded right after start-up: a run
takes seconds of CPU, which in the server's own process would stall its requests (the GIL) and
compete with them for the cores."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from doorstep.services.apps.loading import LoadedApp
from doorstep.services.monitor_process import MonitorProcess
from doorstep.services.monitor_schedule import MonitorScheduler
from doorstep.web.service import DecisionService
from doorstep.web.settings import ServeSettings

__all__ = ["alerting"]

logger = logging.getLogger("doorstep.web")


@contextmanager
def alerting(
    service: DecisionService, settings: ServeSettings
) -> Iterator[MonitorScheduler | None]:
    """Run the scheduled monitors of ``service``'s apps while the block runs (when any has
    ``monitoring.alerts.schedule``)."""
    apps = [
        app
        for app in service.registry
        if app.spec.monitoring.alerts is not None and app.spec.monitoring.alerts.schedule
    ]
    if not settings.schedules or not apps:
        yield None
        return

    def wake() -> None:
        if service.on_deliveries is not None:
            service.on_deliveries()

    process = _monitor_process(service, settings, apps)
    monitor = MonitorScheduler(
        apps,
        service.store,
        profiles=service.profiles,
        public_url=settings.public_url,
        on_alerts=wake,
        runner=process.run if process is not None else None,
    )
    stop = threading.Event()
    thread = threading.Thread(
        target=monitor.run_forever, args=(stop,), name="doorstep-monitor", daemon=True
    )
    thread.start()
    try:
        yield monitor
    finally:
        stop.set()
        thread.join(timeout=30)
        if thread.is_alive():
            logger.warning("the monitor did not stop within 30 s")
        if process is not None:
            process.close()


def _monitor_process(
    service: DecisionService, settings: ServeSettings, apps: list[LoadedApp]
) -> MonitorProcess | None:
    """The child process for the runs, warming up; ``None`` (runs in the thread) when the
    settings say so or the store has no URL a child could open."""
    engine = getattr(service.store, "engine", None)
    if not settings.monitor_process or engine is None:
        return None
    process = MonitorProcess(
        engine.url.render_as_string(hide_password=False),
        profiles=service.profiles.directory,
        public_url=settings.public_url,
    )
    process.warm(apps)
    return process
