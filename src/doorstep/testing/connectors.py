"""Conformance checks for delivery connectors (see :mod:`doorstep.connectors.base`)::

    from doorstep.testing import check_connector

    def test_my_connector(my_receiver):
        check_connector(
            TeamsConnector,
            {"type": "teams", "url": my_receiver.url},
            received=lambda: len(my_receiver.messages),
            unreachable={"type": "teams", "url": "http://127.0.0.1:9/nobody"},
        )

``received`` counts what the real target has taken in so far; ``unreachable`` is a spec whose
target cannot be reached (a closed port, a missing host), which must give ``retry`` or
``failed`` without an exception. Each failed check raises :class:`AssertionError` naming the
connector, the check and what was wrong.
"""

from __future__ import annotations

import builtins
import inspect
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel

from doorstep.connectors.base import (
    Connector,
    ConnectorContext,
    Message,
    SendOutcome,
    SendResult,
)

__all__ = ["check_connector", "sample_delivery"]

SECRET = "conformance-secret-7f3a9c"
"""Put into the context's secrets and the decision's inputs: it must not come back in a detail."""


def sample_delivery(*, attempt: int = 1, payload: Any = None) -> Message:
    """A realistic delivery of the churn example's ``retention_offer`` action."""
    decision_id = "01936f0e-8a4b-7c2d-9e1f-0a1b2c3d4e5f"
    sentence = "Support tickets in the last 30 days: 7, raises churn risk by 18 points"
    context: dict[str, Any] = {
        "decision_id": decision_id,
        "app": "churn",
        "entity_id": "C-1042",
        "score": 0.83,
        "action": "retention_offer",
        "status": "decided",
        "rule": "high risk",
        "reasons": [
            {
                "sentence": sentence,
                "feature": "support_tickets_30d",
                "label": "Support tickets in the last 30 days",
                "value": "7",
                "contribution": 0.91,
                "effect": 18.2,
            }
        ],
        "reasons_text": sentence,
        "inputs": {"customer_id": "C-1042", "support_tickets_30d": 7, "api_token": SECRET},
        "model_version": "v1",
        "created_at": datetime(2026, 11, 2, 9, 14, tzinfo=UTC).isoformat(),
        "decision_url": f"http://127.0.0.1:8000/decisions/{decision_id}",
    }
    return Message(
        id="01936f0e-8a4b-7c2d-9e1f-000000000001",
        key=f"{decision_id}:retention_offer",
        app="churn",
        action="retention_offer",
        connector="target",
        attempt=attempt,
        context=context,
        payload=payload if payload is not None else {"customer": "C-1042", "score": 0.83},
    )


def check_connector(
    factory: type,
    spec: Mapping[str, Any] | BaseModel,
    *,
    received: Callable[[], int] | None = None,
    unreachable: Mapping[str, Any] | BaseModel | None = None,
    base_dir: Path = Path("."),
    delivery: Message | None = None,
) -> None:
    """Run every conformance check on the connector class ``factory`` with a working ``spec``."""
    name = getattr(factory, "type", getattr(factory, "__name__", repr(factory)))
    context = ConnectorContext("target", base_dir, frozenset({SECRET}))
    model = _run(name, "spec", lambda: _check_factory(factory, spec))
    sample = delivery or sample_delivery()
    connector = _run(name, "from_spec", lambda: _build(factory, model, context))
    try:
        before = received() if received is not None else 0
        first = _run(name, "send", lambda: _send(connector, sample))
        _check(name, "send", first.outcome == "delivered", f"a working target gave {first!r}")
        if received is not None:
            _check(name, "send", received() > before, "the target received nothing")
        # the same delivery again, as after an answer lost on the way back
        again = _run(name, "resend", lambda: _send(connector, _next_attempt(sample)))
        _check(name, "resend", again.outcome == "delivered", f"a resend gave {again!r}")
    finally:
        _run(name, "close", connector.close)
    _run(name, "close", connector.close)  # closing twice is harmless
    if unreachable is None:
        return
    broken_spec = _run(name, "spec", lambda: _model(factory, unreachable))
    broken = _run(name, "from_spec", lambda: _build(factory, broken_spec, context))
    try:
        result = _run(name, "unreachable", lambda: _send(broken, sample))
        _check(
            name,
            "unreachable",
            result.outcome in ("retry", "failed"),
            f"an unreachable target must give 'retry' or 'failed', got {result!r}",
        )
    finally:
        broken.close()


def _check(name: str, check: str, condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(f"check_connector[{name}] {check}: {message}")


def _run(name: str, check: str, body: Callable[[], Any]) -> Any:
    try:
        return body()
    except AssertionError as exc:
        raise AssertionError(f"check_connector[{name}] {check}: {exc}") from exc
    except Exception as exc:
        raise AssertionError(
            f"check_connector[{name}] {check}: raised {type(exc).__name__}: {exc}"
        ) from exc


def _check_factory(factory: type, spec: Mapping[str, Any] | BaseModel) -> BaseModel:
    kind = getattr(factory, "type", None)
    assert isinstance(kind, str) and kind, "'type' must be a non-empty string (the spec's type)"
    spec_model = getattr(factory, "spec_model", None)
    assert inspect.isclass(spec_model) and issubclass(spec_model, BaseModel), (
        "'spec_model' must be a pydantic model class"
    )
    assert "type" in spec_model.model_fields, "'spec_model' must have a 'type' field"
    from_spec = inspect.getattr_static(factory, "from_spec", None)
    assert isinstance(from_spec, classmethod), "'from_spec' must be a classmethod"
    model = _model(factory, spec)
    assert getattr(model, "type", None) == kind, (
        f"the spec's type is {getattr(model, 'type', None)!r}, the connector's {kind!r}"
    )
    return model


def _model(factory: type, spec: Mapping[str, Any] | BaseModel) -> BaseModel:
    spec_model: builtins.type[BaseModel] = factory.spec_model  # type: ignore[attr-defined]
    return spec if isinstance(spec, BaseModel) else spec_model.model_validate(dict(spec))


def _build(factory: type, spec: BaseModel, context: ConnectorContext) -> Connector:
    connector = factory.from_spec(spec, context)  # type: ignore[attr-defined]
    assert isinstance(connector, Connector), (
        f"from_spec must return an object with send() and close(), got {type(connector).__name__}"
    )
    return connector


def _send(connector: Connector, delivery: Message) -> SendResult:
    result = connector.send(delivery)
    assert isinstance(result, SendResult), f"send must return a SendResult, got {result!r}"
    assert result.outcome in get_args(SendOutcome), f"unknown outcome {result.outcome!r}"
    assert isinstance(result.detail, str), "'detail' must be a string"
    assert SECRET not in result.detail, "the detail shows a secret value"
    assert result.status is None or isinstance(result.status, int), "'status' must be an int"
    assert result.retry_after is None or result.retry_after >= 0, "'retry_after' must be >= 0"
    return result


def _next_attempt(delivery: Message) -> Message:
    return Message(
        id=delivery.id,
        key=delivery.key,
        app=delivery.app,
        action=delivery.action,
        connector=delivery.connector,
        attempt=delivery.attempt + 1,
        context=delivery.context,
        payload=delivery.payload,
    )
