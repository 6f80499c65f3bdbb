"""The monitor inside ``doorstep serve``: each app's ``monitoring.alerts.schedule`` runs
:func:`~doorstep.services.monitor.alerts.run_monitor` on its cron slots, one runner at a time across
every server sharing the store (the store's ``monitor`` lease, as the scheduled runs use theirs).

The holder runs an app's monitor once per slot it sees (the latest slot at or before now). A
server that starts, or takes the lease over, runs the current slot once more: harmless, as a
breach already raised or resolved is not raised or resolved again (the alert state is
compared-and-set in the store), and the run is recorded as one more ``monitor.run`` event.
The thread wakes as each slot comes due, so a run starts on its slot, and at least every
``tick_seconds`` to keep its lease.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from cronsim import CronSim

from doorstep.services.apps.loading import LoadedApp
from doorstep.services.monitor.alerts import MonitorResult, MonitorStore, run_monitor
from doorstep.services.monitor.drift import ProfileCache
from doorstep.store.protocols import LeaseStore

__all__ = ["LEASE_NAME", "MonitorScheduler", "ScheduledMonitorStore", "latest_monitor_slot"]


class ScheduledMonitorStore(LeaseStore, MonitorStore, Protocol):
    """What the scheduled monitor uses: its lease, and what a monitor run reads and writes."""


LEASE_NAME = "monitor"
SLOT_LATENESS = 0.01
"""Seconds after a slot's time the monitor wakes for it (a tick a little early would see the
previous slot and wait again)."""
logger = logging.getLogger("doorstep.alerts")


def latest_monitor_slot(cron: str, timezone: str, now: datetime) -> datetime:
    """The most recent cron slot at or before ``now`` (in UTC)."""
    local = now.astimezone(ZoneInfo(timezone))
    return next(CronSim(cron, local, reverse=True)).astimezone(UTC)


class MonitorScheduler:
    """Runs the scheduled monitors of ``apps`` (see the module docstring)."""

    def __init__(
        self,
        apps: Sequence[LoadedApp],
        store: ScheduledMonitorStore,
        *,
        profiles: ProfileCache | None = None,
        public_url: str | None = None,
        lease_seconds: float = 600.0,
        tick_seconds: float = 15.0,
        holder: str | None = None,
        on_alerts: Callable[[], None] | None = None,
        runner: Callable[[LoadedApp, datetime, str], MonitorResult] | None = None,
    ) -> None:
        self.apps = {
            a.name: a
            for a in apps
            if a.spec.monitoring.alerts is not None and a.spec.monitoring.alerts.schedule
        }
        self.store = store
        self.profiles = profiles or ProfileCache(None)
        self.public_url = public_url
        self.lease_seconds = lease_seconds
        self.tick_seconds = tick_seconds
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.on_alerts = on_alerts
        """Called after a run wrote messages (the dispatcher's ``wake``)."""
        self.runner = runner or self.run_app
        """Runs one app's monitor (``app, now, actor``): :meth:`run_app` in this thread, or
        elsewhere, e.g. :class:`~doorstep.runtime.monitor_process.MonitorProcess`."""
        self._done: dict[str, datetime] = {}

    def run_app(self, app: LoadedApp, now: datetime, actor: str) -> MonitorResult:
        """One monitor run of ``app`` judged at ``now``, here."""
        profile = self.profiles.get(app) if app.spec.reference is not None else None
        return run_monitor(
            app.spec,
            self.store,
            profile=profile,
            now=now,
            actor=actor,
            public_url=self.public_url,
            root=app.root,
        )

    def tick(self, now: datetime | None = None) -> list[MonitorResult]:
        """One round: run each app whose latest slot has not run here yet (lease holder only)."""
        if not self.apps:
            return []
        now = now or datetime.now(UTC)
        if not self.store.acquire_lease(LEASE_NAME, self.holder, self.lease_seconds, now=now):
            return []
        results: list[MonitorResult] = []
        for app in self.apps.values():
            alerts = app.spec.monitoring.alerts
            schedule = alerts.schedule if alerts is not None else None
            if schedule is None:
                continue
            slot = latest_monitor_slot(schedule.cron, schedule.timezone, now)
            if self._done.get(app.name) == slot:
                continue
            try:
                result = self.runner(app, now, f"monitor:{self.holder}")
            except Exception:  # noqa: BLE001 - logged; the next slot tries again
                logger.exception("the monitor of %s failed for slot %s", app.name, slot)
                continue
            self._done[app.name] = slot
            results.append(result)
            if result.transitions and self.on_alerts is not None:
                self.on_alerts()
        return results

    def seconds_to_next_slot(self, now: datetime | None = None) -> float | None:
        """Seconds from ``now`` to the earliest cron slot after it, over every app (``None``
        without apps)."""
        now = now or datetime.now(UTC)
        nearest: float | None = None
        for app in self.apps.values():
            alerts = app.spec.monitoring.alerts
            schedule = alerts.schedule if alerts is not None else None
            if schedule is None:
                continue
            local = now.astimezone(ZoneInfo(schedule.timezone))
            due = next(CronSim(schedule.cron, local)).astimezone(UTC)
            wait = (due - now).total_seconds()
            nearest = wait if nearest is None else min(nearest, wait)
        return nearest

    def run_forever(self, stop: threading.Event) -> None:
        """Tick every ``tick_seconds``, and as each slot comes due, until ``stop`` is set;
        give the lease up at the end."""
        while not stop.is_set():
            try:
                self.tick()
                to_slot = self.seconds_to_next_slot()
            except Exception:  # noqa: BLE001 - a store outage must not end the monitor
                logger.exception("monitor tick failed")
                to_slot = None
            wait = self.tick_seconds
            if to_slot is not None:  # a run starts on its slot, not up to a tick later
                wait = min(wait, max(to_slot + SLOT_LATENESS, SLOT_LATENESS))
            stop.wait(wait)
        try:
            self.store.release_lease(LEASE_NAME, self.holder)
        except Exception:  # noqa: BLE001
            logger.warning("could not release the monitor lease")
