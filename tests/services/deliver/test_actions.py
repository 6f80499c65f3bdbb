"""What payload templates see: every declared input, an optional one the record left out as
``None``, so a template naming it delivers what the same record with ``null`` delivers, instead
of going ``dead`` on ``{{ inputs.email }} is undefined``."""

from __future__ import annotations

from pathlib import Path

from tests.store.factories import decision

from doorstep.connectors.base import Message, SendResult
from doorstep.connectors.templates import render_payload
from doorstep.core.spec.loader import SpecDocument, parse_spec
from doorstep.services.deliver.actions import deliveries_for, delivery_context
from doorstep.services.deliver.connectors import AppConnectors, SpecFile
from doorstep.services.deliver.dispatcher import Dispatcher
from doorstep.services.deliver.template_check import check_templates
from doorstep.store import RecordRequest, Store

SPEC = """
app: {name: churn, owner: maria@example.com}
model: {path: model.txt}
inputs:
  id: customer_id
  fields:
    tenure_months: {type: int}
    email: {type: string, required: false, feature: false}
actions:
  retention_offer:
    connector: crm
    payload: {to: "{{ inputs.email }}", line: "mail {{ inputs.email or 'nobody' }}"}
connectors:
  crm: {type: file, path: out/crm.jsonl}
"""


class Kept:
    """A connector that keeps what it is sent."""

    def __init__(self) -> None:
        self.sent: list[Message] = []

    def send(self, delivery: Message) -> SendResult:
        self.sent.append(delivery)
        return SendResult("delivered", "kept", 200)

    def close(self) -> None:
        pass


def doc() -> SpecDocument:
    return parse_spec(SPEC, file="doorstep.yaml", env={})


def test_an_absent_optional_input_is_none_in_the_context() -> None:
    spec = doc().spec
    left_out = decision(1, inputs={"customer_id": "C-1", "tenure_months": 4})
    context = delivery_context(spec, left_out, "retention_offer")
    assert context["inputs"] == {"customer_id": "C-1", "tenure_months": 4, "email": None}
    payload = spec.actions["retention_offer"].payload
    assert render_payload(payload, context) == {"to": None, "line": "mail nobody"}
    sent = decision(2, inputs={"customer_id": "C-2", "tenure_months": 4, "email": "a@b.example"})
    assert delivery_context(spec, sent, "retention_offer")["inputs"]["email"] == "a@b.example"


def test_a_record_without_an_optional_input_is_delivered_like_one_with_null(
    store: Store,
) -> None:
    found = doc()
    check_templates(found)  # validate passes ...
    records = [
        decision(1, inputs={"customer_id": "C-1", "tenure_months": 4}),
        decision(2, inputs={"customer_id": "C-2", "tenure_months": 4, "email": None}),
    ]
    wanted = deliveries_for(SpecFile(found, Path()), records)
    store.record([RecordRequest(records, deliveries=wanted)], actor="test")
    crm = Kept()
    with Dispatcher(store, [AppConnectors(found.spec, {"crm": crm}, frozenset())]) as dispatcher:
        reports = dispatcher.run_once()
    assert sorted(r.state for r in reports) == ["delivered", "delivered"]  # ... and it delivers
    assert [m.payload for m in crm.sent] == [{"to": None, "line": "mail nobody"}] * 2
