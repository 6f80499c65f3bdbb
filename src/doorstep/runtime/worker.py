"""``doorstep worker``: a process that only sends the outbox's deliveries, beside or instead of
the dispatcher inside ``serve`` (:mod:`.dispatch_loop`); leases keep any delivery with one
sender at a time.

:func:`open_worker` reads the specs without loading their models, builds their connectors,
opens the store and makes the :class:`~doorstep.services.deliver.dispatcher.Dispatcher`; it
closes all of it when the block ends (what it had opened, when a step fails).
:func:`run_until_signal` runs the dispatcher until SIGINT or SIGTERM; a second signal leaves at
once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from doorstep.errors import InputError
from doorstep.runtime.signals import until_signal
from doorstep.services.deliver.connectors import AppConnectors
from doorstep.services.deliver.dispatcher import Dispatcher
from doorstep.store.protocols import StoreContract

__all__ = ["LOG_LEVELS", "Worker", "log_to_stderr", "open_worker", "run_until_signal"]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class Worker:
    """An open worker: its apps' connectors, the store and the dispatcher sending for them."""

    apps: list[AppConnectors]
    store: StoreContract
    dispatcher: Dispatcher

    @property
    def names(self) -> str:
        """The apps it sends for, comma-separated."""
        return ", ".join(app.name for app in self.apps)

    def drain(self) -> dict[str, int]:
        """Send what is due now (retries due later stay pending); attempts by resulting state."""
        counts: dict[str, int] = {}
        for report in self.dispatcher.drain():
            counts[report.state] = counts.get(report.state, 0) + 1
        return counts


def log_to_stderr(level: str) -> None:
    """Log at ``level`` (one of :data:`LOG_LEVELS`, any case) to standard error, a line per
    record; Alembic's migrations only from warnings up."""
    if level.upper() not in LOG_LEVELS:
        raise InputError(
            f"--log-level must be one of {', '.join(LOG_LEVELS)}. Got {level!r} instead."
        )
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)  # migrations say nothing new


@contextmanager
def open_worker(
    specs: list[Path],
    db: str | None,
    *,
    concurrency: int = 8,
    lease_seconds: float | None = None,
    poll: float = 0.5,
    public_url: str | None = None,
    pool_size: int = 4,
) -> Iterator[Worker]:
    """A worker for the apps of ``specs`` (files, or folders of them) on the store at ``db``;
    a lease shorter than twice the longest connector timeout is an :class:`InputError`.
    ``pool_size``: the store's connections kept open (as many more for a burst)."""
    from doorstep.services.deliver.connectors import read_app_connectors
    from doorstep.store import open_store

    apps = read_app_connectors(specs)
    try:
        store = open_store(db, pool_size=pool_size)
        try:
            dispatcher = Dispatcher(
                store,
                apps,
                concurrency=concurrency,
                lease_seconds=lease_seconds,
                poll_interval=poll,
                public_url=public_url,
            )
        except BaseException:
            store.close()
            raise
    except ValueError as exc:  # the lease, too short for the connectors' timeout
        for app in apps:
            app.close()
        message = str(exc).replace("lease_seconds", "--lease-seconds", 1)
        raise InputError(
            f"{message}. Raise --lease-seconds or lower the connectors' timeout."
        ) from None
    except BaseException:
        for app in apps:
            app.close()
        raise
    try:
        yield Worker(apps, store, dispatcher)
    finally:
        dispatcher.close()  # and the apps' connectors
        store.close()


def run_until_signal(dispatcher: Dispatcher, on_stop: Callable[[str], None]) -> None:
    """Send until SIGINT or SIGTERM (``on_stop`` is told the signal's name), then finish the
    sends in flight; a second signal raises :class:`KeyboardInterrupt` (leases hand the sends
    in flight to other workers)."""
    until_signal(dispatcher.run_forever, on_stop)
