"""The chat connector against a real local receiver standing in for a Slack incoming webhook."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.connectors.conftest import DeliveryFactory, decision_context
from tests.connectors.receivers import Receiver, Reply

from doorstep.connectors.base import Connector, ConnectorContext, ConnectorFactory, Message
from doorstep.connectors.chat import ChatConnector, build_message
from doorstep.connectors.deadline import Deadline
from doorstep.core.spec.models import ChatConnectorSpec, WebhookConnectorSpec
from doorstep.errors import ConnectorSpecError

Make = Callable[..., ChatConnector]
DECISION_URL = decision_context()["decision_url"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def make() -> Iterator[Make]:
    made: list[ChatConnector] = []

    def build(url: str, *, secrets: frozenset[str] = frozenset(), **keys: Any) -> ChatConnector:
        keys.setdefault("allow_networks", ["127.0.0.1/32"])
        spec = ChatConnectorSpec(type="chat", url=url, **keys)
        connector = ChatConnector.from_spec(spec, ConnectorContext("ops_chat", Path("."), secrets))
        made.append(connector)
        return connector

    yield build
    for connector in made:
        connector.close()


def test_it_is_a_connector_factory() -> None:
    assert isinstance(ChatConnector, ConnectorFactory)
    assert ChatConnector.type == "chat"
    spec = ChatConnectorSpec(type="chat", url="https://hooks.slack.com/services/T/B/X")
    connector = ChatConnector.from_spec(spec, ConnectorContext("ops_chat", Path(".")))
    assert isinstance(connector, Connector)
    connector.close()
    with pytest.raises(TypeError, match="ChatConnectorSpec"):
        ChatConnector.from_spec(
            WebhookConnectorSpec(type="webhook", url="https://x.example.com"),
            ConnectorContext("ops_chat", Path(".")),
        )


def test_the_message_carries_action_entity_score_reasons_and_link(
    receiver: Receiver, make: Make, delivery: DeliveryFactory
) -> None:
    result = make(receiver.url("/services/T0/B0/abc")).send(delivery())
    assert (result.outcome, result.status) == ("delivered", 200)
    [request] = receiver.requests
    assert request.headers["content-type"] == "application/json"
    message = request.json()
    text = message["text"]
    assert text.startswith("*retention_offer* for *C-1042* · score 0.873")
    assert "• Support tickets (7) raise the churn risk by 0.21" in text
    assert f"<{DECISION_URL}|Open the decision>" in text
    headline, reasons, footer = message["blocks"]
    assert headline == {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "*retention_offer* for *C-1042* · score 0.873"},
    }
    assert reasons["text"]["text"].splitlines() == [
        "• Support tickets (7) raise the churn risk by 0.21",
        "• Plan &lt;Basic&gt; &amp; monthly billing raise the churn risk by 0.08",
        "• Tenure (38 months) lowers the churn risk by 0.05",
    ]
    assert footer["type"] == "context"
    assert footer["elements"][0]["text"] == (
        f"<{DECISION_URL}|Open the decision> · churn · churn-lgbm-2024-06"
    )


def test_the_text_template_replaces_the_headline(
    receiver: Receiver, make: Make, delivery: DeliveryFactory
) -> None:
    connector = make(receiver.url(), text=":rotating_light: {{ entity_id }} may churn ({{ rule }})")
    assert connector.send(delivery()).outcome == "delivered"
    message = receiver.requests[0].json()
    assert message["text"] == ":rotating_light: C-1042 may churn (high_risk)"
    assert message["blocks"][0]["text"]["text"] == message["text"]
    assert len(message["blocks"]) == 3, "reasons and link are still laid out"


def test_a_broken_text_template_fails_naming_it(
    receiver: Receiver, make: Make, delivery: DeliveryFactory
) -> None:
    result = make(receiver.url(), text="{{ nope }}").send(delivery())
    assert result.outcome == "failed"
    assert "connectors.ops_chat.text" in result.detail
    assert receiver.requests == []


def test_a_decision_without_reasons_or_link_is_still_a_message() -> None:
    context = decision_context(reasons=[], predicted_class="gold")
    del context["decision_url"]
    message = build_message(context)
    assert message["text"] == "*retention_offer* for *C-1042* · score 0.873 · class gold"
    assert len(message["blocks"]) == 1


def test_values_cannot_inject_links_or_mentions() -> None:
    message = build_message(decision_context(entity_id="<!channel> <https://evil.example|hi>"))
    assert "<!channel>" not in message["text"]
    assert "&lt;!channel&gt; &lt;https://evil.example|hi&gt;" in message["text"]


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        (Reply(200, b"ok"), "delivered"),
        (Reply(400, b"invalid_blocks"), "failed"),
        (Reply(404, b"no_service"), "failed"),
        (Reply(410, b"channel_is_archived"), "gone"),
        (Reply(429, headers={"Retry-After": "30"}), "retry"),
        (Reply(500), "retry"),
        (Reply(302, headers={"Location": "/elsewhere"}), "failed"),
    ],
)
def test_answers_map_to_the_webhook_outcomes(
    reply: Reply, outcome: str, receiver: Receiver, make: Make, delivery: DeliveryFactory
) -> None:
    receiver.script("/hook", reply)
    result = make(receiver.url()).send(delivery())
    assert result.outcome == outcome
    assert receiver.requests_to("/elsewhere") == []
    if reply.status == 429:
        assert result.retry_after == 30


def test_the_webhook_url_is_never_shown(
    receiver: Receiver, make: Make, delivery: DeliveryFactory
) -> None:
    url = receiver.url("/services/T0/B0/s3cr3t")
    receiver.script("/services/T0/B0/s3cr3t", Reply(404, f"no route {url}".encode()))
    result = make(url).send(delivery())
    assert result.outcome == "failed"
    assert "s3cr3t" not in result.detail
    refused = make(url, allow_networks=[]).send(delivery())
    assert "s3cr3t" not in refused.detail
    assert f"http://127.0.0.1:{receiver.port} resolves to 127.0.0.1" in refused.detail


def test_a_slow_chat_service_is_retried(
    receiver: Receiver, make: Make, delivery: DeliveryFactory
) -> None:
    receiver.script("/hook", Reply(200, delay=5))
    result = make(receiver.url(), timeout=0.2).send(delivery())
    assert result.outcome == "retry"
    assert "timed out after 0.2 s" in result.detail


def test_a_chat_service_answering_a_byte_at_a_time_is_given_up_on_at_the_deadline(
    receiver: Receiver, make: Make, delivery: DeliveryFactory
) -> None:
    receiver.script("/hook", Reply(200, b"ok" * 50, trickle=0.1))
    started = time.monotonic()
    result = make(receiver.url(), timeout=1).send(delivery(deadline=Deadline(1.0)))
    assert 1.0 <= time.monotonic() - started < 1.8
    assert result.outcome == "retry" and result.detail.startswith("gave up after 1 s while")


def test_loopback_needs_allow_networks(
    receiver: Receiver, make: Make, delivery: DeliveryFactory
) -> None:
    result = make(receiver.url(), allow_networks=[]).send(delivery())
    assert result.outcome == "failed"
    assert "a loopback address; add it to allow_networks" in result.detail
    assert receiver.accepts == 0


def test_a_bad_url_is_refused_without_showing_it() -> None:
    spec = ChatConnectorSpec(type="chat", url="slack://T0/B0/s3cr3t")
    with pytest.raises(ConnectorSpecError, match="connector 'ops_chat' url: ") as caught:
        ChatConnector.from_spec(spec, ConnectorContext("ops_chat", Path(".")))
    assert "s3cr3t" not in str(caught.value)


def test_a_ready_alert_text_is_posted_as_it_is(receiver: Receiver, make: Make) -> None:
    text = "ALERT churn: drift of Plan <plan>\nPSI 0.31 >= 0.25 (alert)"
    alert = Message(
        id="d-1", key="alert:b:raised:ops_chat", app="churn", action="alert.raised",
        connector="ops_chat", attempt=1, context={"app": "churn"}, payload={}, text=text,
    )  # fmt: skip
    result = make(receiver.url("/chat"), text="{{ entity_id }} ignored for alerts").send(alert)
    assert result.outcome == "delivered", result
    body = receiver.requests[0].json()
    assert body["text"] == text
    assert body["blocks"][0]["text"]["text"].startswith("ALERT churn: drift of Plan &lt;plan&gt;")
