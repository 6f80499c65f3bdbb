"""Settings of the decision service (``doorstep serve`` options map onto these fields)."""

from __future__ import annotations

from dataclasses import dataclass

from doorstep.store.engine import DEFAULT_POOL_SIZE
from doorstep.store.home import DEFAULT_HOME

__all__ = ["ServeSettings"]


@dataclass(frozen=True)
class ServeSettings:
    max_batch: int = 256
    """Most single-record requests coalesced into one model call and one transaction."""
    max_wait_ms: float = 2.0
    """Longest time the first request of a micro-batch waits for company (``--batch-wait-ms``);
    0 takes only what is already queued."""
    batch_concurrency: int = 2
    """Micro-batches of one app in flight at once (one decides while another commits)."""
    max_records: int = 1_000
    """Most records in one ``{"records": [...]}`` request; beyond, 413."""
    max_body_bytes: int = 4 * 1024 * 1024
    """Largest request body; beyond, 413."""
    retry_after_seconds: int = 1
    """``Retry-After`` sent with 503 answers when the store is unavailable."""
    review_backlog_cap: int = 10_000
    """The review backlog gauge counts pending decisions up to this many per app."""
    deliver: bool = True
    """Run the dispatcher inside the server (``--no-deliver``: leave it to ``doorstep worker``
    processes)."""
    schedules: bool = True
    """Start the specs' scheduled runs from this server (``--no-schedules``: leave them to
    another server; a lease in the store lets one server run them at a time)."""
    consume: bool = False
    """Run the specs' stream consumers inside the server (``--consume``); a lease per stream in
    the store gives each stream one consumer among the servers (see docs/streams.md)."""
    monitor_process: bool = True
    """Run the scheduled monitor's work in a child process at a lower CPU priority (``False``:
    in a thread of the server, e.g. for tests that count on a run being done in-process)."""
    monitor_nice: int = 10
    """How much lower the monitor child's CPU priority is (``--monitor-nice``, 0-19)."""
    monitor_idle: bool = False
    """Run the monitor child in the idle scheduling class where the system has one
    (``--monitor-idle/--no-monitor-idle``; Linux ``SCHED_IDLE``)."""
    delivery_concurrency: int = 8
    """Deliveries sent at once by the server's dispatcher."""
    public_url: str | None = None
    """Base URL of this server as people reach it (``--public-url``): the ``decision_url`` that
    deliveries carry."""
    home: str = str(DEFAULT_HOME)
    """Folder of the server's own files: the pages' session secret is kept there when
    ``DOORSTEP_SESSION_SECRET`` is not set."""
    session_hours: float = 12.0
    """How long a sign-in to the pages lasts."""
    db_pool_size: int = DEFAULT_POOL_SIZE
    """Connections each server process keeps open to the store (``--db-pool-size``); as many
    more are opened for a burst."""
    stage_poll_seconds: float = 1.0
    """How often the server reads the store's model stage generation to switch versions
    promoted, rolled back or put in canary or shadow elsewhere (``0``: never)."""
