"""The scheduler records every slot's fate: a slot missed by more than ``catch_up``, or passed
over for a later one after an outage, is a ``skipped`` run saying why; the store is left alone
once a slot is settled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from doorstep.runtime.run_scheduler import MAX_PASSED_OVER, Scheduler
from doorstep.services.apps.loading import LoadedApp, load_app
from doorstep.store import Store
from doorstep.store.protocols import DecisionQuery
from doorstep.store.runs import RunInfo, RunQuery

TEN_THIRTY = datetime(2025, 5, 1, 10, 30, 5, tzinfo=UTC)


def scheduled(churn_app: Path, cron: str, catch_up: str) -> LoadedApp:
    spec = churn_app / "doorstep.yaml"
    text = spec.read_text()
    schedule = (
        f'schedules:\n  hourly:\n    cron: "{cron}"\n    source: customer_db\n'
        f"    catch_up: {catch_up}\n    deliver: false\n    chunk_rows: 500\n"
    )
    spec.write_text(
        text[: text.index("schedules:")] + schedule + "\n" + text[text.index("connectors:") :]
    )
    return load_app(spec)


def runs(store: Store) -> list[RunInfo]:
    found = store.list_runs(RunQuery(app="churn", limit=1000)).items
    return sorted(found, key=lambda r: r.slot or datetime.min.replace(tzinfo=UTC))


def succeeded_run_at(store: Store, slot: datetime) -> None:
    lease = store.start_run(
        "churn", "customer_db", runner="x", lease_seconds=60, schedule="hourly", slot=slot
    )
    assert lease is not None and store.finish_run(lease, "succeeded", None)


def test_a_slot_missed_by_more_than_catch_up_is_recorded_skipped(
    churn_app: Path, store: Store
) -> None:
    app = scheduled(churn_app, "0 * * * *", "10m")
    scheduler = Scheduler([app], store, holder="a")
    try:
        assert scheduler.tick(TEN_THIRTY) == []
        assert scheduler.tick(TEN_THIRTY + timedelta(minutes=1)) == []  # recorded once
    finally:
        scheduler.close()
    [skipped] = runs(store)
    assert skipped.state == "skipped" and skipped.slot == datetime(2025, 5, 1, 10, tzinfo=UTC)
    assert skipped.error == (
        "missed by 30 min, more than catch_up 10m: no scheduler started it in time (no server "
        "ran the schedule, or it was busy with an earlier run)"
    )
    assert skipped.schedule == "hourly" and skipped.decided == 0 and skipped.attempts == 0
    assert store.list_decisions(DecisionQuery(app="churn")).items == []


@pytest.mark.parametrize(
    ("catch_up", "reason"),
    [
        ("10m", "missed by 3 h 5 min, more than catch_up 10m"),
        ("1d", "passed over: the later slot 2025-05-01T10:00:00+00:00 runs instead"),
    ],
)
def test_slots_passed_over_during_an_outage_are_recorded_and_the_latest_runs(
    churn_app: Path, store: Store, catch_up: str, reason: str
) -> None:
    app = scheduled(churn_app, "0 * * * *", catch_up)
    succeeded_run_at(store, datetime(2025, 5, 1, 6, tzinfo=UTC))
    scheduler = Scheduler([app], store, holder="a")
    at = datetime(2025, 5, 1, 10, 5, tzinfo=UTC)
    try:
        [ran] = scheduler.tick(at)
    finally:
        scheduler.close()
    assert ran.slot == datetime(2025, 5, 1, 10, tzinfo=UTC) and ran.state == "succeeded"
    found = runs(store)
    assert [(r.slot.hour if r.slot else None, r.state) for r in found] == [
        (6, "succeeded"),
        (7, "skipped"),
        (8, "skipped"),
        (9, "skipped"),
        (10, "succeeded"),
    ]
    assert found[1].error is not None and found[1].error.startswith(reason)


def test_a_long_outage_records_its_latest_slots_and_says_how_many_more(
    churn_app: Path, store: Store
) -> None:
    app = scheduled(churn_app, "* * * * *", "1m")
    start = datetime(2025, 5, 1, 6, tzinfo=UTC)
    succeeded_run_at(store, start)
    scheduler = Scheduler([app], store, holder="a")
    try:
        [ran] = scheduler.tick(start + timedelta(minutes=251, seconds=30))
    finally:
        scheduler.close()
    assert ran.slot == start + timedelta(minutes=251) and ran.state == "succeeded"
    skipped = [r for r in runs(store) if r.state == "skipped"]
    assert len(skipped) == MAX_PASSED_OVER - 1  # and the latest, which ran
    assert skipped[-1].slot == start + timedelta(minutes=250)
    assert "(151 earlier slots were passed over too, not listed)" in (skipped[0].error or "")
    assert all("earlier slots" not in (r.error or "") for r in skipped[1:])


def test_a_run_by_hand_whose_runner_died_is_left_to_a_resume(churn_app: Path, store: Store) -> None:
    """The scheduler does not know how a run by hand was started (``--deliver``? a query's
    URL?): it leaves the run to ``doorstep runs resume``."""
    app = scheduled(churn_app, "0 * * * *", "10m")
    now = TEN_THIRTY  # its slot (10:00) is past catch_up: nothing runs
    for source in ("customer_db", "query"):
        lease = store.start_run(
            "churn", source, runner="gone", lease_seconds=60, now=now - timedelta(hours=1)
        )
        assert lease is not None
    scheduler = Scheduler([app], store, holder="a")
    try:
        scheduler.tick(now)
    finally:
        scheduler.close()
    by_hand = [r for r in runs(store) if r.schedule is None]
    assert [(r.state, r.runner, r.attempts) for r in by_hand] == [("running", "gone", 1)] * 2
    assert store.list_decisions(DecisionQuery(app="churn")).items == []
