"""The dispatcher inside ``doorstep serve``: a background thread sending the outbox's due
deliveries, woken as soon as a request writes new ones (see
:mod:`doorstep.services.deliver.dispatcher`).

Turned off with ``--no-deliver`` when ``doorstep worker`` processes do the sending instead; both
may also run at once, as leases keep any delivery with one sender at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from doorstep.runtime.threads import background
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.deliver.connectors import open_app_connectors
from doorstep.services.deliver.dispatcher import AttemptReport, Dispatcher, DispatchStore

__all__ = ["delivering"]


@contextmanager
def delivering(
    apps: Iterable[LoadedApp],
    store: DispatchStore,
    *,
    enabled: bool = True,
    concurrency: int = 8,
    public_url: str | None = None,
    on_attempt: Callable[[AttemptReport, float], None] | None = None,
) -> Iterator[Dispatcher | None]:
    """Run a dispatcher for ``apps`` while the block runs; yields it (to be woken), or ``None``
    when not ``enabled`` or no app has a connector or exports its audit head."""
    opened = [open_app_connectors(app) for app in apps] if enabled else []
    if not any(app.connectors or app.spec.audit.anchor for app in opened):
        for app in opened:
            app.close()
        yield None
        return
    dispatcher = Dispatcher(
        store, opened, concurrency=concurrency, public_url=public_url, on_attempt=on_attempt
    )
    try:
        with background(
            dispatcher.run_forever,
            name="doorstep-dispatcher",
            wake=dispatcher.wake,
            late="deliveries in flight resume",
        ):
            yield dispatcher
    finally:
        dispatcher.close()
