"""``doorstep deliveries …`` and ``doorstep worker``, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.store.factories import decision
from typer.testing import CliRunner

from doorstep.cli.main import app
from doorstep.core.spec.loader import parse_spec
from doorstep.services.deliver.actions import deliveries_for
from doorstep.services.deliver.connectors import SpecFile
from doorstep.store import AttemptResult, RecordRequest, open_store

runner = CliRunner()

SPEC = """\
app: {name: churn, owner: maria@example.com}
model: {path: model.txt}
inputs:
  id: customer_id
  fields:
    tenure_months: {type: int}
actions:
  retention_offer:
    connector: crm
    payload: {customer: "{{ entity_id }}", why: "{{ reasons_text }}"}
connectors:
  crm: {type: file, path: out/crm.jsonl}
"""


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "doorstep.yaml"
    path.write_text(SPEC)
    return path


def _record(url: str, n: int, **changes: object) -> list[str]:
    records = [decision(i, **changes) for i in range(n)]  # type: ignore[arg-type]
    wanted = deliveries_for(SpecFile(parse_spec(SPEC, env={}), Path()), records)
    with open_store(url) as store:
        store.record([RecordRequest(records, deliveries=wanted)], actor="t")
    return [d.id for d in wanted]


def _kill(url: str, ids: list[str]) -> None:
    """Make deliveries dead, as a 4xx answer would."""
    with open_store(url) as store:
        for claimed in store.claim_deliveries("w", len(ids), 60):
            result = AttemptResult("failed", "HTTP 400: bad customer", 400)
            store.finish_delivery(claimed.id, claimed.lease_token, result, None, "dead")


def test_list_pages_with_the_cursor_it_prints(store_url: str) -> None:
    ids = set(_record(store_url, 5))
    seen: list[str] = []
    args = ["deliveries", "list", "--limit", "2", "--db", store_url]
    for _ in range(3):
        listed = runner.invoke(app, args)
        assert listed.exit_code == 0, listed.output
        seen += [i for i in ids if i in listed.stdout]
        more = re.search(r"add --cursor (\S+) for the next 2", listed.stderr)
        if more is None:
            break
        args = ["deliveries", "list", "--limit", "2", "--cursor", more.group(1), "--db", store_url]
    assert more is None and "raise --limit" not in listed.stderr
    assert sorted(seen) == sorted(ids)  # every delivery once, over three pages


def test_list_and_show(store_url: str) -> None:
    ids = _record(store_url, 2)
    _kill(store_url, ids[:1])
    listed = runner.invoke(app, ["deliveries", "list", "--db", store_url])
    assert listed.exit_code == 0, listed.output
    assert all(i in listed.stdout for i in ids)
    assert "dead" in listed.stdout and "pending" in listed.stdout
    dead = runner.invoke(app, ["deliveries", "list", "--state", "dead", "--db", store_url])
    assert ids[0] in dead.stdout and ids[1] not in dead.stdout
    assert "HTTP 400: bad customer" in dead.stdout and "400 HTTP 400" not in dead.stdout
    shown = runner.invoke(app, ["deliveries", "show", ids[0], "--db", store_url])
    assert shown.exit_code == 0, shown.output
    assert f"{decision_id(store_url, ids[0])}:retention_offer" in shown.stdout
    assert "failed" in shown.stdout and "1 in this cycle, 1 in all" in shown.stdout
    missing = runner.invoke(app, ["deliveries", "show", "nope", "--db", store_url])
    assert missing.exit_code == 1 and "not_found" in missing.stderr
    bad = runner.invoke(app, ["deliveries", "list", "--state", "lost", "--db", store_url])
    assert bad.exit_code == 1 and "'state' filter must be one of" in bad.stderr
    near = runner.invoke(app, ["deliveries", "list", "--state", "pendng", "--db", store_url])
    assert near.exit_code == 1 and "(did you mean 'pending'?)" in near.stderr


def decision_id(url: str, delivery_id: str) -> str:
    with open_store(url) as store:
        info = store.get_delivery(delivery_id)
    assert info is not None and info.decision_id is not None
    return info.decision_id


def test_retry_by_id_and_every_dead_one(store_url: str) -> None:
    ids = _record(store_url, 3)
    _kill(store_url, ids)
    one = runner.invoke(app, ["deliveries", "retry", ids[0], "--db", store_url])
    assert one.exit_code == 0, one.output
    assert "Re-queued 1 delivery." in one.stdout
    again = runner.invoke(app, ["deliveries", "retry", ids[0], "nope", "--db", store_url])
    assert again.exit_code == 1
    assert f"skipped {ids[0]}: it is pending" in again.stderr and "no delivery nope" in again.stderr
    every = runner.invoke(
        app, ["deliveries", "retry", "--dead", "--app", "churn", "--db", store_url]
    )
    assert every.exit_code == 0 and "Re-queued 2 deliveries." in every.stdout
    with open_store(store_url) as store:
        assert store.delivery_counts("churn")["pending"] == 3
    unclear = runner.invoke(app, ["deliveries", "retry", "--dead", "--db", store_url])
    assert unclear.exit_code == 1 and "--dead --app APP" in unclear.stderr


def test_cancel(store_url: str) -> None:
    ids = _record(store_url, 2)
    result = runner.invoke(app, ["deliveries", "cancel", *ids, "--db", store_url])
    assert result.exit_code == 0 and "Cancelled 2 deliveries." in result.stdout
    with open_store(store_url) as store:
        assert store.delivery_counts()["cancelled"] == 2
        assert store.verify_audit().ok
    none = runner.invoke(app, ["deliveries", "cancel", "--db", store_url])
    assert none.exit_code == 1


def test_retry_and_cancel_record_the_reason_given(store_url: str) -> None:
    (delivery_id,) = _record(store_url, 1)
    for verb, why in (("cancel", "customer left"), ("retry", "customer came back")):
        args = ["deliveries", verb, delivery_id, "--reason", why, "--db", store_url]
        assert runner.invoke(app, args).exit_code == 0
    with open_store(store_url) as store:
        info = store.get_delivery(delivery_id)
        assert info is not None and info.decision_id is not None
        events = store.decision_audit(info.decision_id)
    assert [(e.kind, e.payload.get("reason")) for e in events[1:]] == [
        ("deliveries.cancelled", "customer left"),
        ("deliveries.retried", "customer came back"),
    ]


def test_enable_a_disabled_connector(store_url: str) -> None:
    with open_store(store_url) as store:
        store.disable_connector("churn", "crm", "HTTP 410 Gone", actor="worker")
    listed = runner.invoke(app, ["deliveries", "list", "--db", store_url])
    assert "connector churn/crm is disabled" in listed.stderr
    assert "doorstep deliveries enable churn crm" in listed.stderr
    enabled = runner.invoke(app, ["deliveries", "enable", "churn", "crm", "--db", store_url])
    assert enabled.exit_code == 0 and "Enabled churn/crm" in enabled.stdout
    again = runner.invoke(app, ["deliveries", "enable", "churn", "crm", "--db", store_url])
    assert again.exit_code == 0 and "was not disabled" in again.stdout


def test_worker_once(store_url: str, spec: Path) -> None:
    _record(store_url, 2)
    _record(store_url, 1, status="pending_review")  # held: not sent
    result = runner.invoke(app, ["worker", str(spec), "--db", store_url, "--once"])
    assert result.exit_code == 0, result.output
    assert "2 attempts for churn: 2 delivered." in result.stdout
    lines = (spec.parent / "out/crm.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["customer"] for line in lines) == ["C-0", "C-1"]
    idle = runner.invoke(app, ["worker", str(spec), "--db", store_url, "--once"])
    assert "nothing was due" in idle.stdout


def test_worker_reports_a_broken_spec(tmp_path: Path) -> None:
    path = tmp_path / "doorstep.yaml"
    path.write_text(SPEC.replace("type: file", "type: fax"))
    result = runner.invoke(app, ["worker", str(path), "--once", "--db", "sqlite:///x.db"])
    assert result.exit_code == 1 and "spec_invalid" in result.stderr
    assert "connectors.crm" in result.stderr


def test_worker_runs_until_sigterm(tmp_path: Path, spec: Path) -> None:
    url = f"sqlite:///{tmp_path / 'doorstep.db'}"
    _record(url, 3)
    command = [sys.executable, "-c", "from doorstep.cli.main import main; main()"]
    process = subprocess.Popen(
        [*command, "worker", str(spec), "--db", url, "--poll", "0.05"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        out = spec.parent / "out/crm.jsonl"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (
            out.exists() and len(out.read_text().splitlines()) == 3
        ):
            time.sleep(0.05)
        assert len(out.read_text().splitlines()) == 3
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    assert "Stopping (SIGTERM)" in stderr and "outcome=delivered" in stderr
    with open_store(url) as store:
        assert store.delivery_counts()["delivered"] == 3


def test_a_wide_table_leaves_the_console_sized_by_the_terminal_afterwards(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from doorstep.cli.console import console, wide_when_piped

    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr(console, "_width", None)  # sized from the terminal, as at start
    with wide_when_piped(200):
        assert console.width == 200
    monkeypatch.setenv("COLUMNS", "250")  # a later command in a terminal 250 columns wide
    assert console.width == 250
