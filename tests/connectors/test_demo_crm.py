"""The demo's stand-in CRM: the webhook connector's signed requests are accepted once each, and
requests signed with another secret are refused."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

from doorstep.connectors.base import ConnectorContext, Message
from doorstep.connectors.webhook import WebhookConnector
from doorstep.core.spec.models import WebhookConnectorSpec
from doorstep.examples.churn.crm import DEMO_SECRET, CrmStandIn

DeliveryFactory = Callable[..., Message]


def connector(url: str, secret: str) -> WebhookConnector:
    spec = WebhookConnectorSpec(
        type="webhook", url=url, secret=secret, allow_networks=["127.0.0.1/32"], timeout=5
    )
    return WebhookConnector.from_spec(spec, ConnectorContext("crm", Path(".")))


def test_the_stand_in_accepts_each_signed_delivery_once(
    tmp_path: Path, delivery: DeliveryFactory
) -> None:
    inbox = tmp_path / "crm-inbox.jsonl"
    with CrmStandIn(inbox, port=0) as crm:
        sender = connector(crm.url, DEMO_SECRET)
        first = delivery(payload={"customer": "C-7"})
        assert sender.send(first).outcome == "delivered"
        again = Message(**{**first.__dict__, "attempt": 2})
        assert sender.send(again).outcome == "delivered"  # a retry: acknowledged, kept once
        other = "whsec_" + base64.b64encode(b"another-secret-of-thirty-two-by!").decode()
        forged = connector(crm.url, other).send(delivery(payload={"customer": "C-8"}))
        assert forged.outcome == "failed" and forged.status == 401
    lines = [json.loads(line) for line in inbox.read_text().splitlines()]
    assert [(line["webhook_id"], line["payload"]) for line in lines] == [
        (first.key, {"customer": "C-7"})
    ]
