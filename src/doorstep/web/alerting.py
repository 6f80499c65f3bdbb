"""The monitor inside ``doorstep serve``: a background thread running each app's scheduled
monitor and raising its alerts (see :mod:`doorstep.services.monitor_schedule`). Every worker
process runs one; a lease in the store lets one of them act at a time. ``--no-schedules`` turns
it off, as it does the scheduled runs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

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

    monitor = MonitorScheduler(
        apps,
        service.store,
        profiles=service.profiles,
        public_url=settings.public_url,
        on_alerts=wake,
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
