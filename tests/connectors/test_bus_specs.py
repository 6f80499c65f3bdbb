"""The settings of the bus connectors, checked when the spec is (file, line and key), and what
they refuse before any network I/O: a rendered subject or topic that cannot be published on, a
payload that is not JSON."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from doorstep.connectors.base import ConnectorContext
from doorstep.connectors.bus import bus_headers
from doorstep.core.spec.buses import mqtt_topic_problem, nats_subject_problem
from doorstep.core.spec.loader import parse_spec
from doorstep.errors import SpecError
from doorstep.plugins import connector_factory
from doorstep.services.deliver.connectors import SpecFile, guard_warnings, load_connectors
from doorstep.testing.connectors import sample_delivery

HEAD = """app: {name: churn, owner: maria@example.com}
model: {path: model.txt}
inputs:
  id: customer_id
  fields:
    tenure_months: {type: int}
actions:
  retention_offer: {connector: bus, payload: {customer: "{{ entity_id }}"}}
connectors:
  bus:
"""


def spec_text(**settings: str) -> str:
    return HEAD + "".join(f"    {key}: {value}\n" for key, value in settings.items())


def line_of(text: str, start: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith(start))


def issues_of(text: str, tmp_path: Path, env: dict[str, str] | None = None) -> list[Any]:
    with pytest.raises(SpecError) as caught:
        doc = parse_spec(text, file="app.yaml", env=env or {})
        load_connectors(SpecFile(doc, tmp_path))
    return list(caught.value.issues)


def test_a_literal_subject_with_a_wildcard_is_refused_at_its_line(tmp_path: Path) -> None:
    text = spec_text(type="nats", url="nats://127.0.0.1:4222", subject='"decisions.*"')
    (issue,) = issues_of(text, tmp_path)
    assert (issue.key, issue.line) == ("connectors.bus.subject", line_of(text, "    subject:"))
    assert "wildcard" in issue.message


def test_a_literal_topic_with_a_wildcard_is_refused_at_its_line(tmp_path: Path) -> None:
    text = spec_text(type="mqtt", url="mqtt://127.0.0.1:1883", topic='"doorstep/#"')
    (issue,) = issues_of(text, tmp_path)
    assert (issue.key, issue.line) == ("connectors.bus.topic", line_of(text, "    topic:"))


def test_a_routing_key_template_naming_nothing_is_refused(tmp_path: Path) -> None:
    text = spec_text(
        type="rabbitmq", url="amqp://127.0.0.1:5672/", exchange="decisions",
        routing_key='"churn.{{ actoin }}"',
    )  # fmt: skip
    (issue,) = issues_of(text, tmp_path)
    assert issue.key == "connectors.bus.routing_key"
    assert issue.line == line_of(text, "    routing_key:")
    assert "'actoin'" in issue.message and "did you mean 'action'" in issue.message


@pytest.mark.parametrize(
    ("kind", "destination", "url"),
    [
        ("rabbitmq", "exchange", "http://guest:${MQ_PASS}@127.0.0.1:5672/"),
        ("nats", "subject", "amqp://doorstep:${MQ_PASS}@127.0.0.1:4222"),
        ("redis", "stream", "nats://:${MQ_PASS}@127.0.0.1:6379/0"),
        ("mqtt", "topic", "redis://doorstep:${MQ_PASS}@127.0.0.1:1883"),
    ],
)
def test_a_url_of_another_scheme_is_refused_without_its_password(
    kind: str, destination: str, url: str, tmp_path: Path
) -> None:
    text = spec_text(type=kind, url=f'"{url}"', **{destination: "x"})
    (issue,) = issues_of(text, tmp_path, env={"MQ_PASS": "pa55-word-secret"})
    assert (issue.key, issue.line) == ("connectors.bus.url", line_of(text, "    url:"))
    assert "expected a URL starting with" in issue.message
    assert "pa55-word-secret" not in str(issue)


def test_a_misspelt_key_is_named_with_the_right_one(tmp_path: Path) -> None:
    text = spec_text(type="rabbitmq", url="amqp://127.0.0.1:5672/", exchnage="decisions")
    found = {issue.key: issue.message for issue in issues_of(text, tmp_path)}
    assert "did you mean 'exchange'" in found["connectors.bus.exchnage"]


def test_a_broker_on_loopback_is_warned_about_unless_allowed() -> None:
    text = spec_text(type="redis", url="redis://127.0.0.1:6379/0", stream="decisions")
    (warning,) = guard_warnings(parse_spec(text, env={}))
    assert "connectors.bus.url: 127.0.0.1 is a loopback address" in warning
    allowed = text + "    allow_networks: [127.0.0.1/32]\n"
    assert guard_warnings(parse_spec(allowed, env={})) == ()


@pytest.mark.parametrize(
    ("kind", "destination"),
    [("rabbitmq", "exchange"), ("nats", "subject"), ("redis", "stream"), ("mqtt", "topic")],
)
def test_a_broker_the_guard_refuses_fails_the_delivery(kind: str, destination: str) -> None:
    factory = connector_factory(kind)
    scheme = {"rabbitmq": "amqp", "nats": "nats", "redis": "redis", "mqtt": "mqtt"}[kind]
    spec = factory.spec_model.model_validate(
        {"type": kind, "url": f"{scheme}://127.0.0.1:9", destination: "x"}
    )
    connector = factory.from_spec(spec, ConnectorContext("bus", Path()))
    try:
        result = connector.send(sample_delivery())
    finally:
        connector.close()
    assert result.outcome == "failed", result
    assert "127.0.0.1, a loopback address" in result.detail


def test_a_bad_allow_networks_entry_is_named(tmp_path: Path) -> None:
    text = spec_text(
        type="nats", url="nats://10.0.0.5:4222", subject="a.b", allow_networks="[10.20.0.1/16]"
    )
    (issue,) = issues_of(text, tmp_path)
    assert issue.key == "connectors.bus.allow_networks[0]"


@pytest.mark.parametrize(
    ("kind", "destination", "template", "problem"),
    [
        ("nats", "subject", "decisions.{{ entity_id }}", "whitespace"),
        ("mqtt", "topic", "doorstep/{{ entity_id }}/#", "wildcard"),
        ("redis", "stream", "{{ '' }}", "empty"),
    ],
)
def test_a_rendered_destination_that_cannot_work_fails_the_delivery(
    kind: str, destination: str, template: str, problem: str
) -> None:
    factory = connector_factory(kind)
    url = {"nats": "nats://127.0.0.1:9", "mqtt": "mqtt://127.0.0.1:9", "redis": "redis://x:9"}
    spec = factory.spec_model.model_validate(
        {"type": kind, "url": url[kind], destination: template}
    )
    connector = factory.from_spec(spec, ConnectorContext("bus", Path()))
    delivery = sample_delivery()
    delivery = replace(delivery, context={**delivery.context, "entity_id": "C 1042"})
    try:
        result = connector.send(delivery)
    finally:
        connector.close()
    assert result.outcome == "failed"
    assert f"connectors.bus.{destination}" in result.detail and problem in result.detail


def test_a_payload_that_is_not_json_fails_the_delivery() -> None:
    factory = connector_factory("rabbitmq")
    spec = factory.spec_model.model_validate(
        {"type": "rabbitmq", "url": "amqp://127.0.0.1:9/", "exchange": "x"}
    )
    connector = factory.from_spec(spec, ConnectorContext("bus", Path()))
    result = connector.send(sample_delivery(payload={"score": float("nan")}))
    connector.close()
    assert result.outcome == "failed" and "not JSON" in result.detail


def test_headers_carry_the_delivery_s_ids() -> None:
    delivery = sample_delivery()
    assert bus_headers(delivery) == {
        "doorstep-delivery-id": delivery.id,
        "doorstep-idempotency-key": delivery.key,
        "doorstep-app": "churn",
        "doorstep-action": "retention_offer",
        "doorstep-decision-id": delivery.context["decision_id"],
    }


@pytest.mark.parametrize(
    ("subject", "fine"),
    [("a.b", True), ("a..b", False), (".a", False), ("a.*", False), ("a.>", False), ("", False),
     ("a b", False), ("a.b-c_d", True)],
)  # fmt: skip
def test_nats_subjects(subject: str, fine: bool) -> None:
    assert (nats_subject_problem(subject) is None) == fine


@pytest.mark.parametrize(
    ("topic", "fine"),
    [("a/b", True), ("a/+/b", False), ("a/#", False), ("", False), ("/a/b c", True)],
)
def test_mqtt_topics(topic: str, fine: bool) -> None:
    assert (mqtt_topic_problem(topic) is None) == fine


def test_the_bus_examples_of_the_docs_load(tmp_path: Path) -> None:
    page = (Path(__file__).parents[2] / "docs" / "connectors.md").read_text()
    blocks = [
        block
        for block in re.findall(r"```yaml\n(.*?)```", page, re.S)
        if re.search(r"type: (rabbitmq|nats|redis|mqtt)\b", block)
    ]
    assert len(blocks) == 4
    assert all("allow_networks: [127.0.0.1/32]" in block for block in blocks)
    env = {"MQ_USER": "doorstep", "MQ_PASS": "secret-password"}
    for block in blocks:
        text = HEAD.split("connectors:")[0].replace("connector: bus", "connector: null") + block
        doc = parse_spec(text, file="connectors.md", env=env)
        built = load_connectors(SpecFile(doc, tmp_path))  # no network I/O until a send
        assert len(built) == 1
        for connector in built.values():
            connector.close()


@pytest.mark.parametrize(
    ("settings", "key", "words"),
    [
        ({"type": "rabbitmq", "url": "amqp://h:5672/", "exchange": '"my exchange"'}, "exchange",
         "exchange name"),
        ({"type": "nats", "url": "nats://h:4222", "subject": "a.b", "stream": "ORDERS.EU"},
         "stream", "stream name"),
        ({"type": "redis", "url": "redis://h:6379/0", "stream": '""'}, "stream", "empty"),
    ],
)  # fmt: skip
def test_destination_names_are_checked_at_their_line(
    settings: dict[str, str], key: str, words: str, tmp_path: Path
) -> None:
    text = spec_text(**settings)
    (issue,) = issues_of(text, tmp_path)
    assert (issue.key, issue.line) == (f"connectors.bus.{key}", line_of(text, f"    {key}:"))
    assert words in issue.message
