"""What a run's state means now: a running run whose lease expired is stale, and says since when
and what happens next; the view carries the lease for programs."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from doorstep.services.runs.views import is_stale, run_view, state_detail, state_label
from doorstep.store.runs import RunInfo

NOW = datetime(2025, 5, 1, 2, 30, tzinfo=UTC)


def run(**changes: object) -> RunInfo:
    base = RunInfo(
        id="0193f7c2-0000-7000-8000-000000000001",
        app="churn",
        schedule="nightly",
        slot=datetime(2025, 5, 1, 2, tzinfo=UTC),
        source="customer_db",
        state="running",
        started_at=NOW - timedelta(minutes=30),
        updated_at=NOW - timedelta(minutes=5),
        finished_at=None,
        checkpoint="C-0100",
        rows=100,
        decided=100,
        rejected=0,
        deliveries=0,
        errors=[],
        error=None,
        attempts=1,
        runner="web-1:4242",
        lease_expires_at=NOW + timedelta(seconds=90),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_run_whose_lease_is_live_is_running() -> None:
    live = run()
    assert not is_stale(live, NOW) and state_label(live, NOW) == "running"
    assert state_detail(live, NOW) == (
        "held by web-1:4242, whose lease runs until 2025-05-01 02:31:30 UTC (renewed with every "
        "chunk)"
    )
    view = run_view(live, now=NOW)
    assert view["stale"] is False and view["lease_expires_at"] == "2025-05-01T02:31:30+00:00"
    assert view["runner"] == "web-1:4242"


def test_a_run_whose_lease_expired_is_stale_and_says_what_happens_next() -> None:
    dead = run(lease_expires_at=NOW - timedelta(minutes=3))
    assert is_stale(dead, NOW)
    assert state_label(dead, NOW) == "running, lease expired 3 min ago"
    detail = state_detail(dead, NOW) or ""
    assert "lease expired 3 min ago: its runner (web-1:4242) stopped renewing it" in detail
    assert "a server running its schedule takes it over" in detail
    by_hand = replace(dead, schedule=None, slot=None, lease_expires_at=NOW - timedelta(hours=26))
    assert state_label(by_hand, NOW) == "running, lease expired 26 h 0 min ago"
    assert f"doorstep runs resume {by_hand.id}" in (state_detail(by_hand, NOW) or "")
    assert run_view(by_hand, now=NOW)["stale"] is True


def test_finished_runs_are_never_stale() -> None:
    failed = run(state="failed", lease_expires_at=None, error="the source was down")
    assert not is_stale(failed, NOW) and state_label(failed, NOW) == "failed"
    assert f"doorstep runs resume {failed.id}" in (state_detail(failed, NOW) or "")
    done = run(state="succeeded", lease_expires_at=None)
    assert state_detail(done, NOW) is None and run_view(done, now=NOW)["stale"] is False
