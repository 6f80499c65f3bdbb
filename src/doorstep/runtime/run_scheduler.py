"""Scheduled runs: the spec's ``schedules`` started on their cron slots, one runner at a time
across every server sharing the store.

Each server process runs a :class:`Scheduler`; on every tick it tries to take (or renew) the
store's ``scheduler`` lease, and only the holder acts: it first takes over runs whose runner died
(their lease expired) and resumes them after their checkpoint, then starts the run of every
schedule whose latest slot is due (at most ``catch_up`` ago) and has no run yet. A slot's run is
one row (unique by app, schedule and slot), so a slot is never run twice. A slot that will not
run — missed by more than ``catch_up``, or passed over for a later one after an outage — is a
row too, ``skipped``, saying why: ``doorstep runs list`` shows every slot's fate.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
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
from doorstep.services.runs.views import duration_text
from doorstep.sources.base import ScanSource
from doorstep.store.protocols import DecisionStore, LeaseStore, RunStore
from doorstep.store.runs import RunInfo, RunLease

__all__ = ["LEASE_NAME", "MAX_PASSED_OVER", "ScheduledRunStore", "Scheduler", "latest_slot"]


class ScheduledRunStore(RunStore, LeaseStore, DecisionStore, Protocol):
    """What the scheduler uses: runs, the scheduler's lease, and the decisions a run records."""


LEASE_NAME = "scheduler"
MAX_PASSED_OVER = 100
"""Most slots passed over (e.g. while no server ran) recorded as ``skipped`` at once; the first
kept says how many earlier ones were left out."""
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
        current: Callable[[str], LoadedApp] | None = None,
    ) -> None:
        self.apps = {a.name: a for a in apps if a.spec.schedules}
        self.current = current
        """The app as served now, by name (a server's: its model versions switch), else the
        app as given."""
        self.store = store
        self.lease_seconds = lease_seconds
        self.run_lease_seconds = run_lease_seconds
        self.tick_seconds = tick_seconds
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._settled: dict[tuple[str, str], datetime] = {}
        """(app, schedule) → the latest slot whose fate is recorded (run, or skipped)."""
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
                done += self._run_slots(app, name, schedule, now)
        return done

    def _run_slots(
        self, app: LoadedApp, name: str, schedule: ScheduleSpec, now: datetime
    ) -> list[RunInfo]:
        """Start the run of the latest slot when it is due (at most ``catch_up`` late), and
        record every slot passed over since the schedule's last run as ``skipped``, saying why;
        once a slot is settled, later ticks leave the store alone until the next slot."""
        latest = latest_slot(schedule, now)
        key = (app.name, name)
        if self._settled.get(key) == latest:
            return []
        catch_up = parse_duration(schedule.catch_up)
        done: list[RunInfo] = []
        for slot, earlier in self._open_slots(app.name, name, schedule, latest):
            late = now - slot
            if slot == latest and late <= catch_up:
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
                continue
            if late > catch_up:
                reason = (
                    f"missed by {duration_text(late)}, more than catch_up {schedule.catch_up}: "
                    "no scheduler started it in time (no server ran the schedule, or it was busy "
                    "with an earlier run)"
                )
            else:
                reason = f"passed over: the later slot {latest.isoformat()} runs instead"
            if earlier:
                reason += f" ({earlier} earlier slots were passed over too, not listed)"
            if self.store.skip_slot(
                app.name, schedule.source, schedule=name, slot=slot, reason=reason, now=now
            ):
                logger.warning("skipped slot %s of %s/%s: %s", slot, app.name, name, reason)
        self._settled[key] = latest
        return done

    def _open_slots(
        self, app: str, name: str, schedule: ScheduleSpec, latest: datetime
    ) -> list[tuple[datetime, int]]:
        """The slots of ``schedule`` after its last recorded one up to ``latest`` (only
        ``latest`` when it never ran), oldest first, at most :data:`MAX_PASSED_OVER`; each with
        how many earlier ones were left out (the first only)."""
        last = self.store.last_slot(app, name)
        if last is None:
            return [(latest, 0)]
        if last >= latest:
            return []
        zone = ZoneInfo(schedule.timezone)
        slots: list[datetime] = []
        for moment in CronSim(schedule.cron, last.astimezone(zone)):
            slot = moment.astimezone(UTC)
            if slot > latest:
                break
            slots.append(slot)
        kept = slots[-MAX_PASSED_OVER:]
        return [(slot, len(slots) - len(kept) if i == 0 else 0) for i, slot in enumerate(kept)]

    def _execute(self, lease: RunLease) -> RunInfo:
        name = lease.run.app
        app = self.apps[name] if self.current is None else self.current(name)
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
