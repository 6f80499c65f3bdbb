"""An app's connectors and the secrets kept out of what they report: every value that came from
the environment is hidden, in whichever key of the spec it sits, also URL-encoded."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from tests.connectors.receivers import Receiver, Reply
from tests.store.factories import decision

from doorstep.core.spec.loader import parse_spec
from doorstep.services.apps.checks import check_app
from doorstep.services.deliver.actions import deliveries_for
from doorstep.services.deliver.connectors import (
    SpecFile,
    guard_warnings,
    open_app_connectors,
    secret_values,
)
from doorstep.services.deliver.dispatcher import Dispatcher
from doorstep.store import RecordRequest, Store

TOKEN = "tok|en^{9f8e7d6c}-5b4a"
"""A token with characters an HTTP client writes percent-encoded in a path (``{``, ``}``) and
others it leaves as they are (``|``, ``^``)."""
SIG = "sig 0a1b2c3d4e5f"
BASE = """
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
"""


def _spec(url: str) -> str:
    return BASE + (
        "connectors:\n"
        "  crm:\n"
        "    type: webhook\n"
        f'    url: "{url}/hooks/${{CRM_TOKEN}}?sig=${{CRM_SIG}}"\n'
        "    allow_networks: [127.0.0.1/32]\n"
        "    retry: {delays: []}\n"
        "  mail:\n"
        "    type: email\n"
        "    host: smtp.example.com\n"
        "    sender: doorstep@example.com\n"
        '    to: ["${MAIL_TO}"]\n'
        "  ops:\n"
        "    type: chat\n"
        '    url: "${OPS_CHAT_WEBHOOK}"\n'
    )


CHAT = "https://hooks.slack.com/services/T0123ABC/B0456DEF/XyZ789secret?channel=ops-alerts"
ENV = {"CRM_TOKEN": TOKEN, "CRM_SIG": SIG, "MAIL_TO": "ops-desk-7@example.com"}
ENV["OPS_CHAT_WEBHOOK"] = CHAT


def test_each_value_from_the_environment_counts_alone_in_any_key() -> None:
    doc = parse_spec(_spec("https://crm.example.com"), env=ENV)
    hidden = secret_values(doc)
    assert {TOKEN, SIG, "0a1b2c3d4e5f", "ops-desk-7@example.com"} <= hidden
    whole = f"https://crm.example.com/hooks/{TOKEN}?sig={SIG}"
    assert whole in hidden  # the key's whole value still counts
    # a URL from the environment: its path and query, whole and by their long parts
    path = "/services/T0123ABC/B0456DEF/XyZ789secret"
    assert {CHAT, path, f"{path}?channel=ops-alerts", "T0123ABC", "XyZ789secret"} <= hidden
    assert "ops-alerts" in hidden and "channel=ops-alerts" in hidden
    # not what details show of a URL (scheme, host, port), nor short words
    assert not {"https", "crm.example.com", "hooks.slack.com", "hooks"} & hidden


@pytest.mark.parametrize("reply", [Reply(404, echo=True), Reply(302, echo=True)])
def test_a_token_in_the_url_stays_out_of_details_and_logs_when_the_receiver_echoes_it(
    store: Store, tmp_path: Path, reply: Reply, caplog: pytest.LogCaptureFixture
) -> None:
    with Receiver() as receiver:
        doc = parse_spec(_spec(receiver.url("")), env=ENV)
        url = doc.spec.connectors["crm"].url  # type: ignore[union-attr]
        receiver.script(httpx.URL(url).raw_path.decode(), reply)
        app = SpecFile(doc, tmp_path)
        made = decision(1)
        wanted = deliveries_for(app, [made])
        store.record([RecordRequest([made], deliveries=wanted)], actor="t")
        with (
            caplog.at_level(logging.INFO, logger="doorstep.deliveries"),
            Dispatcher(store, [open_app_connectors(app)]) as dispatcher,
        ):
            (report,) = dispatcher.drain()
        (request,) = receiver.requests
    assert "%7B9f8e7d6c%7D" in request.path  # the receiver saw it encoded, and echoed it
    assert report.status == reply.status and report.state == "dead"
    info = store.get_delivery(wanted[0].id)
    assert info is not None and info.last_detail is not None
    for shown in (report.detail, info.last_detail, info.history[0].detail or "", caplog.text):
        for part in ("9f8e7d6c", "0a1b2c3d4e5f", "tok|en"):
            assert part not in shown, shown
    assert info.last_detail.startswith("HTTP 404: not found: ***") or (
        "(Location: ***" in info.last_detail
    )


GUARDED = (
    BASE
    + """connectors:
  crm: {type: webhook, url: "http://127.0.0.1:9000/hooks"}
  metadata: {type: webhook, url: "http://169.254.169.254/latest"}
  ops: {type: chat, url: "https://[::1]:8443/hooks"}
  mail: {type: email, host: localhost, port: 25, sender: d@example.com, to: [a@example.com]}
  rows: {type: sql, url: "postgresql+psycopg://u@10.1.2.3/crm", table: offers}
  allowed: {type: webhook, url: "http://127.0.0.1:9001/x", allow_networks: [127.0.0.0/8]}
  public: {type: webhook, url: "https://8.8.8.8/hooks"}
  named: {type: webhook, url: "https://crm.example.com/hooks"}
  local_file: {type: sql, url: "sqlite:///crm.db", table: offers}
"""
)


def test_targets_the_network_guard_would_always_refuse_are_named_at_their_key() -> None:
    warnings = guard_warnings(parse_spec(GUARDED, file="doorstep.yaml", env={}))
    assert [w.split(": ", 1)[0] for w in warnings] == [
        "doorstep.yaml:13 connectors.crm.url",
        "doorstep.yaml:14 connectors.metadata.url",
        "doorstep.yaml:15 connectors.ops.url",
        "doorstep.yaml:16 connectors.mail.host",
        "doorstep.yaml:17 connectors.rows.url",
    ]
    assert warnings[0].endswith(
        "127.0.0.1 is a loopback address, which the network guard refuses unless "
        "connectors.crm.allow_networks lists it: every delivery would fail. Add it "
        "(allow_networks: [127.0.0.1/32]) if the target is meant to be there"
    )
    assert "169.254.169.254 is a link-local address" in warnings[1]
    assert "::1 is a loopback address" in warnings[2] and "[::1/128]" in warnings[2]
    assert "localhost is a loopback address" in warnings[3]
    assert "10.1.2.3 is a private address" in warnings[4]


def test_validate_warns_about_the_churn_webhook_once_its_allow_list_is_gone(
    churn_app: Path,
) -> None:
    spec = churn_app / "doorstep.yaml"
    spec.write_text(spec.read_text().replace("    allow_networks: [127.0.0.1/32]", ""))
    app = check_app(spec)
    (warning,) = [w for w in app.warnings if "network guard" in w]
    assert " connectors.crm.url: 127.0.0.1 is a loopback address" in warning
