"""The scheduled monitor's own process: ``doorstep serve`` runs each monitor run in one long-lived
child process at a lower CPU priority, so that the report's work (reading windows, drift
statistics, explaining samples) neither holds the server's GIL nor competes with it for the
cores at equal priority: the child runs at ``nice`` +10 (every thread of it), with its thread
pools (polars, the model's OpenMP) capped at one thread; with ``idle`` it also runs in the idle
scheduling class where the system has one (Linux ``SCHED_IDLE``: it gets a core only when
nothing else wants it, and gives it back the moment a request thread wakes; off by default, as
a child starved while it holds SQLite's write lock makes the server's writes wait).
``doorstep serve --monitor-nice N --monitor-idle`` sets these.

The child is spawned once (``multiprocessing`` ``spawn``: a fresh interpreter, nothing inherited
from the server but the environment and the working directory), loads the apps from their spec
files and opens the store from its URL on first use, and keeps them for the next slots, so the
imports and the model load are paid once, in the background, right after start-up (see
:meth:`MonitorProcess.warm`). The parent keeps the lease and the slot bookkeeping
(:class:`~doorstep.runtime.monitor_scheduler.MonitorScheduler`); the child runs exactly what the
scheduler runs in-thread (:meth:`MonitorScheduler.run_app`). Its errors come back to the parent
with their code and message (:func:`~doorstep.runtime.niced.relayable`): a spec broken between
two slots fails that app's run, not the child process.
"""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from doorstep.errors import DoorstepError
from doorstep.runtime.niced import environment, lower_priority, relayable, thread_caps

if TYPE_CHECKING:  # this module stays light: the child caps its threads before they load
    from doorstep.runtime.monitor_scheduler import MonitorScheduler
    from doorstep.services.apps.loading import LoadedApp
    from doorstep.services.monitor.alerts import MonitorResult

__all__ = ["DEFAULT_IDLE", "DEFAULT_NICE", "MonitorProcess", "spec_path"]

logger = logging.getLogger("doorstep.alerts")

DEFAULT_NICE = 10
"""How much lower the child's CPU priority is than the server's (``nice`` increment)."""
DEFAULT_IDLE = False
"""Whether the child runs in the idle scheduling class (where the system has one)."""
DEFAULT_THREADS = 1
"""Threads the child's polars and the model's OpenMP runtime may use: one core at most, so a run
leaves the other cores to the server."""


def spec_path(app: LoadedApp) -> Path:
    """The spec file ``app`` was loaded from."""
    return app.root / Path(app.doc.file).name


class MonitorProcess:
    """Runs :meth:`MonitorScheduler.run_app` in a child process; use :meth:`run` as the
    scheduler's ``runner``. ``store_url`` must carry its password (the child opens it)."""

    def __init__(
        self,
        store_url: str,
        *,
        profiles: Path | None = None,
        public_url: str | None = None,
        nice: int = DEFAULT_NICE,
        idle: bool = DEFAULT_IDLE,
        threads: int = DEFAULT_THREADS,
    ) -> None:
        self.store_url = store_url
        self.profiles = profiles
        self.public_url = public_url
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=lower_priority,
            initargs=(nice, idle),
        )
        # The child is started now, by this first submit, with its thread pools capped in its
        # environment: a spawned child imports the server's main module (and polars with it)
        # before any initializer could set them.
        with environment(thread_caps(threads)):
            self._pool.submit(int)

    def warm(self, apps: list[LoadedApp]) -> None:
        """Start the child and load ``apps`` and the store there now, not at the first slot."""
        future = self._pool.submit(_warm, self._context(), [spec_path(a) for a in apps])
        future.add_done_callback(_log_failure)

    def run(self, app: LoadedApp, now: datetime, actor: str) -> MonitorResult:
        """One monitor run of ``app`` in the child; its exceptions are raised here."""
        return self._pool.submit(_run, self._context(), spec_path(app), now, actor).result()

    def close(self) -> None:
        """Stop the child (a run in progress is waited for; queued ones are dropped)."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _context(self) -> tuple[str, Path | None, str | None]:
        return self.store_url, self.profiles, self.public_url


def _log_failure(future: object) -> None:
    exception = future.exception()  # type: ignore[attr-defined]
    if exception is not None:
        logger.warning("the monitor process could not load its apps: %s", exception)


# --- in the child ------------------------------------------------------------------------------

_schedulers: dict[tuple[str, Path | None, str | None], MonitorScheduler] = {}
_apps: dict[Path, tuple[float, LoadedApp]] = {}


def _scheduler(context: tuple[str, Path | None, str | None]) -> MonitorScheduler:
    from doorstep.runtime.monitor_scheduler import MonitorScheduler
    from doorstep.services.monitor.drift import ProfileCache
    from doorstep.store import open_store

    scheduler = _schedulers.get(context)
    if scheduler is None:
        store_url, profiles, public_url = context
        store = open_store(store_url, migrate=False)
        scheduler = MonitorScheduler(
            [], store, profiles=ProfileCache(profiles), public_url=public_url
        )
        _schedulers[context] = scheduler
    return scheduler


def _app(path: Path) -> LoadedApp:
    """The app of ``path``, loaded again when the spec file changed since."""
    from doorstep.services.apps.loading import load_app

    modified = path.stat().st_mtime
    known = _apps.get(path)
    if known is None or known[0] != modified:
        known = (modified, load_app(path))
        _apps[path] = known
    return known[1]


def _warm(context: tuple[str, Path | None, str | None], paths: list[Path]) -> None:
    try:
        _scheduler(context)
        for path in paths:
            _app(path)
    except DoorstepError as error:  # one that does not pickle would break the pool
        raise relayable(error) from None


def _run(
    context: tuple[str, Path | None, str | None], path: Path, now: datetime, actor: str
) -> MonitorResult:
    try:
        return _scheduler(context).run_app(_app(path), now, actor)
    except DoorstepError as error:  # e.g. a spec edited into a SpecError since the last run
        raise relayable(error) from None
