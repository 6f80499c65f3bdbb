"""``doorstep worker --lease-seconds``: down to twice the longest connector timeout, no lower."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from doorstep.cli.main import app
from doorstep.core.spec.loader import parse_spec
from doorstep.services.deliver.connectors import AppConnectors
from doorstep.services.deliver.dispatcher import Dispatcher
from doorstep.store import open_store

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
    payload: {customer: "{{ entity_id }}"}
connectors:
  crm: {type: webhook, url: "https://crm.example.com/hooks", timeout: 2}
  callbacks: {type: file, path: out/callbacks.jsonl}
"""


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "doorstep.yaml"
    path.write_text(SPEC)
    return path


def test_a_lease_of_twice_the_longest_timeout_is_taken(spec: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'doorstep.db'}"
    result = runner.invoke(
        app, ["worker", str(spec), "--db", url, "--once", "--lease-seconds", "4"]
    )
    assert result.exit_code == 0, result.output
    assert "nothing was due" in result.stdout


def test_a_shorter_lease_is_refused_with_the_timeout_named(spec: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'doorstep.db'}"
    result = runner.invoke(
        app, ["worker", str(spec), "--db", url, "--once", "--lease-seconds", "3.5"]
    )
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert "--lease-seconds (3.5) must be more than 0 and at least twice" in message
    assert "longest connector timeout (2 s)" in message
    assert "Raise --lease-seconds or lower the connectors' timeout." in message


def test_the_dispatcher_checks_the_lease_against_timeouts_not_the_default(
    tmp_path: Path,
) -> None:
    doc = parse_spec(SPEC, env={})
    apps = [AppConnectors(doc.spec, {})]
    with open_store(f"sqlite:///{tmp_path / 'doorstep.db'}") as store:
        with Dispatcher(store, apps, lease_seconds=4) as short:
            assert short.lease_seconds == 4  # well under the 2-minute default: allowed
        with Dispatcher(store, apps) as default:
            assert default.lease_seconds == 120
        for refused in (3.9, 0, -1):
            with pytest.raises(ValueError, match="at least twice the longest connector timeout"):
                Dispatcher(store, apps, lease_seconds=refused)
