"""The whole rollout of a second model version through the command line, on SQLite and
PostgreSQL: register -> backtest -> shadow -> canary -> compare -> promote (refused with one
key, accepted with two) -> rollback. After each step the store's state is checked (stages,
champion, which version decided which customer, which decisions were delivered) and so is the
audit chain (``doorstep audit verify`` passes; the step's event is there with actor and
reason)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from doorstep.cli.main import app as cli
from doorstep.core.routing import in_canary
from doorstep.store import Store, open_store
from doorstep.store.protocols import DeliveryQuery
from doorstep.store.versions import STAGE_CHANGED

pytestmark = pytest.mark.slow

runner = CliRunner()
SHARE = 30  # percent of the customers the canary decides


def run(*args: str) -> tuple[int, str]:
    """``doorstep ARGS``: its exit code and its output on one line."""
    result = runner.invoke(cli, list(args), env={"COLUMNS": "250"})
    return result.exit_code, " ".join(result.output.split())


class Walk:
    """One store, its app and the checks made after every step."""

    def __init__(self, app: Path, url: str, tmp_path: Path) -> None:
        self.app, self.url, self.tmp = app, url, tmp_path
        self.db = ("--db", url)
        self.spec = ("--spec", str(app / "doorstep.yaml"))
        self.events_seen = 0

    @contextmanager
    def store(self) -> Iterator[Store]:
        with open_store(self.url) as store:
            yield store

    def stages(self) -> dict[str, str]:
        with self.store() as store:
            return {r["version"]: r["stage"] for r in store.model_versions("churn")}

    def decide(self, customers: pl.DataFrame, name: str) -> list[tuple[str, str, str, bool]]:
        """Score ``customers`` into the store with deliveries, as a run; (decision id, entity,
        version, acted) of the new decisions."""
        path = self.tmp / f"{name}.parquet"
        customers.write_parquet(path)
        with self.store() as store:
            before = {row[0] for row in self.replay(store)}
        code, out = run("score", str(path), *self.spec, "--record", "--deliver", *self.db)
        assert code == 0, out
        with self.store() as store:
            new = [row for row in self.replay(store) if row[0] not in before]
        assert len(new) == customers.height
        return new

    @staticmethod
    def replay(store: Store) -> list[tuple[str, str, str, bool]]:
        rows: list[tuple[str, str, str, bool]] = []
        for page in store.iter_replay("churn"):
            for r in page:
                rows.append((r[0], r[1], r[3], r[7] != "none" and not r[9]))
        return rows

    def delivered(self, store: Store) -> set[str]:
        """The decisions with a delivery in the outbox (any state)."""
        found: set[str] = set()
        cursor = None
        while True:
            page = store.list_deliveries(DeliveryQuery(app="churn", cursor=cursor, limit=500))
            found |= {str(d.decision_id) for d in page.items}
            cursor = page.next_cursor
            if cursor is None:
                return found

    def audited(self, *expected: tuple[str, str, dict[str, Any]]) -> None:
        """``doorstep audit verify`` passes, and the model events since the last check are
        exactly ``expected``: (kind, subject, what the actor and payload say) each."""
        code, out = run("audit", "verify", *self.db)
        assert code == 0 and out.startswith("ok:"), out
        with self.store() as store:
            events = store.app_audit("churn", kind_prefix="model", limit=10_000)
        fresh = [e for e in events if e.seq > self.events_seen]
        self.events_seen = max([self.events_seen, *(e.seq for e in events)])
        assert len(fresh) == len(expected), fresh
        for event, (kind, subject, said) in zip(fresh, expected, strict=True):
            assert (event.kind, event.subject) == (kind, subject), event
            facts = {"actor": event.actor, **event.payload}
            assert {k: facts.get(k) for k in said} == said, event


def test_a_second_version_from_register_to_rollback(
    churn_app: Path, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from doorstep.examples.churn import generate_customers, train_model
    from doorstep.services.outcomes.example import write_demo_outcomes

    monkeypatch.chdir(churn_app)  # the app is found by its name, like a user in its folder
    monkeypatch.delenv("DOORSTEP_API_KEY", raising=False)
    walk = Walk(churn_app, store_url, tmp_path)
    customers = pl.read_parquet(churn_app / "customers.parquet")
    first, second, third = customers[:200], customers[200:350], customers[350:]
    model = tmp_path / "model-v2.lgb.txt"
    booster = train_model(generate_customers(2_000, seed=11), trees=20, seed=11)
    booster.save_model(str(model))  # type: ignore[attr-defined]

    # register: the spec's model is the champion, version 2 a candidate that decides nothing
    code, out = run("models", "register", str(model), "--app", "churn", "--version", "2",
                    "--notes", "retrained on Q4", *walk.db)  # fmt: skip
    assert code == 0 and "Registered version 2 of app churn" in out, out
    with walk.store() as store:
        v1 = next(r["version"] for r in store.model_versions("churn") if r["version"] != "2")
    assert walk.stages() == {v1: "champion", "2": "candidate"}
    walk.audited(
        ("model_version.registered", f"churn/{v1}", {"actor": actor()}),
        (STAGE_CHANGED, f"churn/{v1}", {"actor": actor(), "to": "champion"}),
        ("model_version.registered", "churn/2", {"actor": actor(), "notes": "retrained on Q4"}),
    )
    decided = walk.decide(first, "first")
    assert {version for _, _, version, _ in decided} == {v1}

    # backtest: the candidate replays the stored decisions; nothing changes in the store
    with walk.store() as store:
        outcomes = write_demo_outcomes("churn", store, churn_app / "customers.parquet",
                                       tmp_path / "outcomes-first.csv")  # fmt: skip
    assert outcomes.rows == 200
    code, out = run("outcomes", "import", str(tmp_path / "outcomes-first.csv"), *walk.spec,
                    *walk.db)  # fmt: skip
    assert code == 0, out
    result = runner.invoke(
        cli, ["models", "backtest", "churn", "--version", "2", "--json", *walk.db]
    )
    assert result.exit_code == 0, result.output
    backtest = json.loads(result.output)
    assert backtest["decisions"] == backtest["labelled"] == 200  # each with its outcome
    moved = sum(t["decisions"] for t in backtest["transitions"] if t["champion"] != t["candidate"])
    assert backtest["flips"] == moved and backtest["verdict"]
    assert walk.stages() == {v1: "champion", "2": "candidate"}
    walk.audited()  # a backtest changes nothing

    # shadow: version 2 scores every request beside the champion, which alone acts
    code, out = run("models", "shadow", "churn", "--version", "2", "--reason", "try it", *walk.db)
    assert code == 0, out
    assert walk.stages() == {v1: "champion", "2": "shadow"}
    walk.audited((STAGE_CHANGED, "churn/2", {"actor": actor(), "reason": "try it", "to": "shadow"}))
    decided = walk.decide(second, "second")
    assert {version for _, _, version, _ in decided} == {v1}
    with walk.store() as store:
        shadowed = {s.decision_id for page in store.iter_shadow("churn", "2") for s in page}
        delivered = walk.delivered(store)
    assert shadowed == {d for d, *_ in decided}  # every request scored by the shadow too
    acted = {d for d, _, _, act in decided if act}
    assert acted and {d for d, *_ in decided} & delivered == acted  # the shadow never delivers

    # canary: 30% of the customers, by a stable hash of their id, decided by version 2
    code, out = run("models", "shadow", "churn", "--stop", "--reason", "enough", *walk.db)
    assert code == 0, out
    code, out = run("models", "canary", "churn", "--version", "2", "--share", str(SHARE),
                    "--reason", "a third of the customers", *walk.db)  # fmt: skip
    assert code == 0 and f"{SHARE}% of the entities" in out, out
    assert walk.stages() == {v1: "champion", "2": "canary"}
    walk.audited(
        (STAGE_CHANGED, "churn/2", {"actor": actor(), "reason": "enough", "to": "candidate"}),
        (STAGE_CHANGED, "churn/2", {"actor": actor(), "reason": "a third of the customers",
                                    "to": "canary", "share": SHARE / 100}),
    )  # fmt: skip
    decided = walk.decide(third, "third")
    ids = pl.Series([entity for _, entity, _, _ in decided])
    canary = in_canary("churn", ids, SHARE / 100)
    assert 0 < canary.sum() < len(decided)
    for (_, entity, version, _), chosen in zip(decided, canary, strict=True):
        assert version == ("2" if chosen else v1), entity
    with walk.store() as store:
        delivered = walk.delivered(store)
    canary_acted = {d for d, _, version, act in decided if act and version == "2"}
    assert canary_acted and canary_acted <= delivered  # the canary delivers its own decisions
    assert {d for d, *_ in decided} & delivered == {d for d, _, _, act in decided if act}

    # compare: champion against the canary on the outcomes of its customers
    with walk.store() as store:
        write_demo_outcomes("churn", store, churn_app / "customers.parquet",
                            tmp_path / "outcomes-all.csv")  # fmt: skip
    code, out = run("outcomes", "import", str(tmp_path / "outcomes-all.csv"), *walk.spec, *walk.db)
    assert code == 0, out
    # version 2 was a shadow before: its canary decisions alone (by default: its shadow rows)
    result = runner.invoke(cli, ["models", "compare", "churn", "--challenger", "2", "--mode",
                                 "canary", "--json", *walk.db])  # fmt: skip
    assert result.exit_code == 0, result.output
    compared = json.loads(result.output)
    assert compared["mode"] == "canary" and compared["verdict"]
    champion, challenger = compared["champion"], compared["challenger"]
    assert (champion["version"], challenger["version"]) == (v1, "2")
    assert challenger["decisions"] == canary.sum()  # only what it decided itself
    assert champion["decisions"] == customers.height - canary.sum()  # all of its own
    result = runner.invoke(cli, ["monitor", *walk.spec, "--json", "--no-drift", "--nice", "0",
                                 *walk.db])  # fmt: skip
    assert result.exit_code == 0, result.output
    versions = json.loads(result.output)["versions"]  # the comparison in the monitor's report
    assert (versions["champion"], versions["challenger"]) == (v1, "2") and versions["verdict"]
    scored = {(d["version"], d["role"]): d["scores"] for d in versions["drift"]}
    assert scored == {(v1, "champion"): customers.height - canary.sum(),
                      ("2", "canary"): canary.sum(), ("2", "shadow"): second.height}  # fmt: skip
    report = tmp_path / "report.html"
    code, out = run("report", *walk.spec, "--out", str(report), "--no-drift", *walk.db)
    assert code == 0 and 'id="versions-drift-table"' in report.read_text(), out
    assert walk.stages() == {v1: "champion", "2": "canary"}
    walk.audited()  # comparing and reporting change nothing

    # promote: refused without a key and with one key twice; two keys make version 2 champion
    with walk.store() as store:
        ana = store.create_key("ana", "owner", actor="test")[1]
        ben = store.create_key("ben", "admin", actor="test")[1]
    promote = ("churn", "--version", "2", *walk.db)
    code, out = run("models", "promote", *promote, "--reason", "better")
    assert code != 0 and "API key" in out, out
    code, out = run("models", "promote", *promote, "--reason", "better", "--key", ana)
    assert code == 0, out
    walk.audited(("model_promotion.requested", "churn/2", {"actor": "key:ana", "reason": "better"}))
    code, out = run("models", "approve", *promote, "--reason", "mine", "--key", ana)
    assert code != 0 and "four eyes" in out, out
    assert walk.stages() == {v1: "champion", "2": "canary"}
    code, out = run("models", "approve", *promote, "--reason", "checked", "--key", ben)
    assert code == 0 and "Version 2 is the champion" in out, out
    assert walk.stages() == {v1: "retired", "2": "champion"}
    walk.audited(
        ("model_promotion.approved", "churn/2", {"actor": "key:ben", "reason": "checked"}),
        (STAGE_CHANGED, f"churn/{v1}", {"actor": "key:ben", "to": "retired"}),
        (STAGE_CHANGED, "churn/2", {"actor": "key:ben", "to": "champion"}),
    )
    assert {version for _, _, version, _ in walk.decide(first[:20], "after-promote")} == {"2"}
    result = runner.invoke(cli, ["models", "compare", "churn", "--json", *walk.db])
    assert result.exit_code == 0, result.output
    compared = json.loads(result.output)  # the champion by default: the promoted version
    assert (compared["champion"]["version"], compared["challenger"]["version"]) == ("2", v1)

    # rollback: the previous champion decides again, at once
    code, out = run("models", "rollback", "churn", "--reason", "complaints", "--key", ben,
                    *walk.db)  # fmt: skip
    assert code == 0 and f"version {v1} is the champion" in out, out
    assert walk.stages() == {v1: "champion", "2": "retired"}
    walk.audited(
        (STAGE_CHANGED, "churn/2", {"actor": "key:ben", "reason": "complaints", "to": "retired"}),
        (STAGE_CHANGED, f"churn/{v1}", {"actor": "key:ben", "reason": "complaints",
                                        "to": "champion"}),
    )  # fmt: skip
    assert {version for _, _, version, _ in walk.decide(first[:20], "after-rollback")} == {v1}
    code, out = run("models", "history", "churn", *walk.db)
    assert code == 0 and "complaints" in out and "key:ben" in out, out


def actor() -> str:
    from doorstep.cli.options import actor as cli_actor

    return cli_actor()
