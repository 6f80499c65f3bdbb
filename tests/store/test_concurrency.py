"""Concurrent writers: idempotency keys, verdicts, review claims and pagination, on SQLite and
PostgreSQL (two stores on one database stand for two servers)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from tests.store.factories import decision, request

from doorstep.errors import ReviewClaimedError, ReviewConflictError
from doorstep.store import DecisionQuery, RecordRequest, Store, Verdict, open_store
from doorstep.store.views import ReviewClaim


def _together(n: int, work: object) -> list[object]:
    barrier = threading.Barrier(n)

    def run(i: int) -> object:
        barrier.wait()
        try:
            return work(i)  # type: ignore[operator]
        except Exception as exc:  # noqa: BLE001 - returned for the assertions
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def test_one_key_from_eight_threads_records_once(store_url: str) -> None:
    stores = [open_store(store_url) for _ in range(2)]  # two "processes" sharing the database
    try:

        def work(i: int) -> object:
            req = request(
                3, idempotency_key="same", body_sha256="a" * 64, response=f"body-{i}".encode()
            )
            return stores[i % 2].record([req], actor=f"t{i}")[0]

        outcomes = _together(8, work)
        statuses = sorted(o.status for o in outcomes)  # type: ignore[attr-defined]
        assert statuses == ["recorded"] + ["replayed"] * 7
        winner = next(o for o in outcomes if o.status == "recorded")  # type: ignore[attr-defined]
        assert all(o.response == winner.response for o in outcomes)  # type: ignore[attr-defined]
        assert len(stores[0].list_decisions(DecisionQuery(app="churn")).items) == 3
        assert stores[0].verify_audit().ok
    finally:
        for opened in stores:
            opened.close()


def test_two_concurrent_verdicts_one_wins(store: Store) -> None:
    pending = decision(1, status="pending_review")
    store.record([RecordRequest([pending])], actor="t")

    def work(i: int) -> object:
        verdict = Verdict(
            pending.id, "approve" if i % 2 else "override", "r", f"rev{i}", action="none"
        )
        return store.review(verdict)

    results = _together(4, work)
    wins = [r for r in results if not isinstance(r, Exception)]
    assert len(wins) == 1
    assert all(isinstance(r, ReviewConflictError) for r in results if r not in wins)
    assert store.verify_audit().ok


def test_pagination_is_stable_under_concurrent_inserts(store: Store) -> None:
    store.record([RecordRequest([decision(i) for i in range(30)])], actor="t")
    first = store.list_decisions(DecisionQuery(app="churn", limit=10))
    before = {d.id for d in first.items}
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            store.record([request(2)], actor="w")

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        seen = [d.id for d in first.items]
        cursor = first.next_cursor
        while cursor:
            page = store.list_decisions(DecisionQuery(app="churn", limit=10, cursor=cursor))
            seen.extend(d.id for d in page.items)
            cursor = page.next_cursor
    finally:
        stop.set()
        thread.join()
    assert len(seen) == 30 and len(set(seen)) == 30
    assert before <= set(seen)
    assert store.verify_audit().ok


def test_eight_keys_claiming_one_case_at_once_one_holds_it(store_url: str) -> None:
    stores = [open_store(store_url) for _ in range(2)]  # two servers sharing the database
    try:
        pending = decision(1, status="pending_review")
        stores[0].record([RecordRequest([pending])], actor="t")
        now = datetime.now(UTC)

        def work(i: int) -> object:
            return stores[i % 2].claim_review(
                pending.id, f"key-{i}", f"rev{i}", seconds=60, now=now
            )

        results = _together(8, work)
        held = [r for r in results if isinstance(r, ReviewClaim)]
        refused = [r for r in results if not isinstance(r, ReviewClaim)]
        assert len(held) == 1, results
        assert all(isinstance(r, ReviewClaimedError) for r in refused), refused
        assert stores[1].review_claim(pending.id, now=now) == held[0]
    finally:
        for opened in stores:
            opened.close()
