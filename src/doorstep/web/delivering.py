"""The dispatcher inside ``doorstep serve``: a background thread sending the outbox's due
deliveries, woken as soon as a request writes new ones (see
:mod:`doorstep.services.deliver.dispatcher`).

Turned off with ``--no-deliver`` when ``doorstep worker`` processes do the sending instead; both
may also run at once, as leases keep any delivery with one sender at a time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from doorstep.services.deliver.actions import open_app_connectors
from doorstep.services.deliver.dispatcher import Dispatcher
from doorstep.web.service import DecisionService
from doorstep.web.settings import ServeSettings

__all__ = ["delivering"]

logger = logging.getLogger("doorstep.web")


@contextmanager
def delivering(service: DecisionService, settings: ServeSettings) -> Iterator[Dispatcher | None]:
    """Run a dispatcher for ``service``'s apps while the block runs (when ``settings.deliver``)."""
    apps = [open_app_connectors(app) for app in service.registry] if settings.deliver else []
    if not any(app.connectors for app in apps):
        for app in apps:
            app.close()
        yield None
        return
    dispatcher = Dispatcher(
        service.store,
        apps,
        concurrency=settings.delivery_concurrency,
        public_url=settings.public_url,
        on_attempt=service.metrics.attempt,
    )
    stop = threading.Event()
    thread = threading.Thread(
        target=dispatcher.run_forever, args=(stop,), name="doorstep-dispatcher", daemon=True
    )
    thread.start()
    service.on_deliveries = dispatcher.wake
    try:
        yield dispatcher
    finally:
        service.on_deliveries = None
        stop.set()
        dispatcher.wake()
        thread.join(timeout=30)
        if thread.is_alive():
            logger.warning("the dispatcher did not stop within 30 s; deliveries in flight resume")
        dispatcher.close()
