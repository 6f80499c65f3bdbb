"""The scheduler inside ``doorstep serve``: a background thread starting the spec's scheduled
runs (see :mod:`doorstep.services.scheduler`). Every worker process runs one; a lease in the
store lets one of them act at a time. ``--no-schedules`` turns it off."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from doorstep.services.scheduler import Scheduler
from doorstep.web.service import DecisionService
from doorstep.web.settings import ServeSettings

__all__ = ["scheduling"]

logger = logging.getLogger("doorstep.web")


@contextmanager
def scheduling(service: DecisionService, settings: ServeSettings) -> Iterator[Scheduler | None]:
    """Run a scheduler for ``service``'s apps while the block runs (when any has schedules)."""
    apps = [app for app in service.registry if app.spec.schedules]
    if not settings.schedules or not apps:
        yield None
        return
    scheduler = Scheduler(apps, service.store, lookups=service.features)
    stop = threading.Event()
    thread = threading.Thread(
        target=scheduler.run_forever, args=(stop,), name="doorstep-scheduler", daemon=True
    )
    thread.start()
    try:
        yield scheduler
    finally:
        stop.set()
        thread.join(timeout=30)
        if thread.is_alive():
            logger.warning("the scheduler did not stop within 30 s; its run resumes later")
        scheduler.close()
