"""Scheduled runs: the spec's ``schedules`` started on their cron slots, one runner at a time
across every server sharing the store.

Each server process runs a :class:`Scheduler`; on every tick it tries to take (or renew) the
store's ``scheduler`` lease, and only the holder acts: it first takes over runs whose runner died
(their lease expired) and resumes them after their checkpoint, then starts the run of every
schedule whose latest slot is due (at most ``catch_up`` ago) and has no run yet. A slot's run is
one row (unique by app, schedule and slot), so a slot is never run twice.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol, cast
from zoneinfo import ZoneInfo

from cronsim import CronSim

from doorstep.core.outcomes import parse_duration
from doorstep.core.spec.sources import ScheduleSpec
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.decide.features import FeatureLookup
from doorstep.services.runs.resume import resume_options
from doorstep.services.runs.sources import RunOptions, execute_run
from doorstep.sources.base import ScanSource
from doorstep.store.protocols import DecisionStore, LeaseStore, RunStore
from doorstep.store.runs import RunInfo, RunLease

__all__ = ["LEASE_NAME", "ScheduledRunStore", "Scheduler", "latest_slot"]


class ScheduledRunStore(RunStore, LeaseStore, DecisionStore, Protocol):
    """What the scheduler uses: runs, the scheduler's lease, and the decisions a run records."""


LEASE_NAME = "scheduler"
logger = logging.getLogger("doorstep.runs")


def latest_slot(schedule: ScheduleSpec, now: datetime) -> datetime:
    """The most recent cron slot at or before ``now`` (in UTC)."""
    zone = ZoneInfo(schedule.timezone)
    local = now.astimezone(zone)
    slot = next(CronSim(schedule.cron, local, reverse=True))
    return slot.astimezone(UTC)


class Scheduler:
    """Runs the schedules of ``apps`` against ``store`` (see the module docstring)."""

    def __init__(
        self,
        apps: Sequence[LoadedApp],
        store: ScheduledRunStore,
        *,
        lookups: dict[str, FeatureLookup] | None = None,
        lease_seconds: float = 30.0,
        run_lease_seconds: float = 120.0,
        tick_seconds: float = 5.0,
        holder: str | None = None,
    ) -> None:
        self.apps = {a.name: a for a in apps if a.spec.schedules}
        self.store = store
        self.lease_seconds = lease_seconds
        self.run_lease_seconds = run_lease_seconds
        self.tick_seconds = tick_seconds
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._own_lookups = lookups is None
        self.lookups = dict(lookups or {})
        for app in self.apps.values():
            if app.name not in self.lookups:
                lookup = FeatureLookup.open(app.spec, app.root)
                if lookup is not None:
                    self.lookups[app.name] = lookup

    def close(self) -> None:
        if self._own_lookups:
            for lookup in self.lookups.values():
                lookup.close()

    def tick(self, now: datetime | None = None) -> list[RunInfo]:
        """One round: resume crashed runs, start due ones; returns the runs it finished."""
        if not self.apps:
            return []
        now = now or datetime.now(UTC)
        if not self.store.acquire_lease(LEASE_NAME, self.holder, self.lease_seconds, now=now):
            return []
        done: list[RunInfo] = []
        for run in self.store.expired_runs(now=now):
            app = self.apps.get(run.app)
            if app is None or run.schedule not in app.spec.schedules:
                continue  # a run by hand goes on by hand (`doorstep runs resume`)
            lease = self.store.take_over_run(
                run.id, runner=self.holder, lease_seconds=self.run_lease_seconds, now=now
            )
            if lease is not None:
                logger.info("resuming run %s after %s", run.id, run.checkpoint)
                done.append(self._execute(lease))
        for app in self.apps.values():
            for name, schedule in app.spec.schedules.items():
                slot = latest_slot(schedule, now)
                if (now - slot) > parse_duration(schedule.catch_up):
                    continue
                lease = self.store.start_run(
                    app.name,
                    schedule.source,
                    runner=self.holder,
                    lease_seconds=self.run_lease_seconds,
                    schedule=name,
                    slot=slot,
                    now=now,
                    options=RunOptions(
                        chunk_rows=schedule.chunk_rows,
                        deliver=schedule.deliver,
                        explain=schedule.explain,
                    ).stored(),
                )
                if lease is not None:
                    logger.info(
                        "starting run %s of %s/%s for %s", lease.run.id, app.name, name, slot
                    )
                    done.append(self._execute(lease))
        return done

    def _execute(self, lease: RunLease) -> RunInfo:
        app = self.apps[lease.run.app]
        options = replace(
            resume_options(app, lease.run),
            lease_seconds=self.run_lease_seconds,
            actor=f"schedule:{lease.run.schedule}",
        )

        def renew(_: RunInfo | None) -> None:
            self.store.acquire_lease(LEASE_NAME, self.holder, self.lease_seconds)

        try:
            source = self.lookups[app.name].source(lease.run.source)
            scan = cast(ScanSource, source)  # schedules name SQL sources (checked with the spec)
            return execute_run(app, scan, self.store, lease, options, on_chunk=renew)
        except Exception:  # noqa: BLE001 - recorded with the run; the scheduler goes on
            logger.exception("run %s failed", lease.run.id)
            return self.store.get_run(lease.run.id) or lease.run

    def run_forever(self, stop: threading.Event) -> None:
        """Tick every ``tick_seconds`` until ``stop`` is set; give the lease up at the end."""
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - a store outage must not end the scheduler
                logger.exception("scheduler tick failed")
            stop.wait(self.tick_seconds)
        try:
            self.store.release_lease(LEASE_NAME, self.holder)
        except Exception:  # noqa: BLE001
            logger.warning("could not release the scheduler lease")
