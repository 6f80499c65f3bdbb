"""Bad templates fail when the spec is checked, not at the first delivery.

Every template of an app (each action's ``payload``, and the templated settings of its
connectors: webhook ``headers``, e-mail ``to``/``subject``/``body``, chat ``text``, SQL
``columns``, RabbitMQ ``routing_key``, NATS ``subject``, Redis ``stream``, MQTT ``topic``) is
rendered against a sample decision shaped like the real ones: the spec's input fields with a
value of their type, a score, reasons; and again with every optional field absent, which
templates see as ``None`` (see :func:`doorstep.services.deliver.actions.delivery_context`). A
name that does not exist (``{{ inputs.plann }}``, ``{{ scor }}``), a syntax error or a template
that breaks on an absent optional field is a :class:`SpecError` at the template's file, line
and key, with the names that do exist.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from doorstep.connectors.templates import TemplateRenderError, render_payload
from doorstep.core.spec.loader import SpecDocument
from doorstep.core.spec.models import FieldSpec, Spec
from doorstep.core.suggest import did_you_mean
from doorstep.errors import SpecError, SpecIssue

__all__ = ["check_templates", "sample_context"]

Key = tuple[str | int, ...]

_SAMPLES: dict[str, Any] = {
    "int": 3,
    "float": 1.5,
    "bool": True,
    "string": "text",
    "datetime": "2026-01-01T00:00:00+00:00",
}
_TEMPLATED = {
    "webhook": ("headers",),
    "email": ("to", "subject", "body"),
    "chat": ("text",),
    "sql": ("columns",),
    "rabbitmq": ("routing_key",),
    "nats": ("subject",),
    "redis": ("stream",),
    "mqtt": ("topic",),
}


def sample_context(spec: Spec) -> dict[str, Any]:
    """A delivery context (see :attr:`doorstep.connectors.base.Message.context`) for ``spec``
    with made-up values of the right types."""
    fields = spec.inputs.fields
    inputs: dict[str, Any] = {spec.inputs.id: "E-1"}
    inputs.update({name: _sample(field) for name, field in fields.items()})
    first = next(iter(fields), "feature")
    label = (fields[first].label if first in fields else None) or first
    reason = {
        "sentence": f"{label}: 3, raises the score by 12 points",
        "feature": first,
        "label": label,
        "value": "3",
        "contribution": 0.5,
        "effect": 12.0,
    }
    context: dict[str, Any] = {
        "decision_id": "00000000-0000-7000-8000-000000000000",
        "app": spec.app.name,
        "entity_id": "E-1",
        "score": 0.5,
        "action": next(iter(spec.actions), "none"),
        "status": "decided",
        "rule": "rule 1",
        "reasons": [reason],
        "reasons_text": reason["sentence"],
        "inputs": inputs,
        "model_version": "v1",
        "created_at": datetime(2026, 1, 1, tzinfo=UTC).isoformat(),
        "decision_url": "",
    }
    if spec.model.task == "multiclass":
        context["predicted_class"] = "class"
    return context


def check_templates(doc: SpecDocument) -> None:
    """Render every template of ``doc`` on a sample decision; raise :class:`SpecError` listing
    each one that fails, located at its key."""
    spec = doc.spec
    context = sample_context(spec)
    optional = [name for name, field in spec.inputs.fields.items() if not field.required]
    issues: list[SpecIssue] = []
    for key, template in _templates(spec):
        where = ".".join(map(str, key))
        try:
            render_payload(template, context, where=where)
        except TemplateRenderError as error:
            issues.append(doc.issue(key, _explain(str(error), context)))
            continue
        for name in optional:  # a record may leave it out: templates then see None
            absent = {**context, "inputs": {**context["inputs"], name: None}}
            try:
                render_payload(template, absent, where=where)
            except TemplateRenderError as error:
                issues.append(doc.issue(key, _explain_absent(str(error), name)))
                break
    if issues:
        raise SpecError(issues)


def _templates(spec: Spec) -> Iterator[tuple[Key, Any]]:
    for name, action in spec.actions.items():
        yield from _strings(("actions", name, "payload"), action.payload)
    for name, connector in spec.connectors.items():
        for setting in _TEMPLATED.get(connector.type, ()):
            value = getattr(connector, setting, None)
            if value is not None:
                yield from _strings(("connectors", name, setting), value)


def _strings(key: Key, value: Any) -> Iterator[tuple[Key, Any]]:
    if isinstance(value, str):
        if "{{" in value or "{%" in value:
            yield key, value
    elif isinstance(value, Mapping):
        for child, item in value.items():
            yield from _strings((*key, str(child)), item)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings((*key, index), item)


def _explain(error: str, context: Mapping[str, Any]) -> str:
    message = error.split(": ", 1)[1] if ": " in error else error
    undefined = _undefined_name(message)
    if undefined is None:
        return f"the template does not render: {message}"
    known = list(context) if undefined not in context["inputs"] else []
    inputs = list(context["inputs"])
    hint = did_you_mean(undefined, [*known, *inputs])
    return (
        f"the template names {undefined!r}, which a decision does not have{hint}; templates "
        f"see {', '.join(context)} (inputs.<field>: {', '.join(inputs)})"
    )


def _explain_absent(error: str, name: str) -> str:
    message = error.split(": ", 1)[1] if ": " in error else error
    return (
        f"the template does not render when the optional input {name!r} is absent "
        f"({message}); a record may leave it out, and templates then see None: guard it, "
        f"e.g. {{{{ inputs.{name} or '' }}}}"
    )


def _undefined_name(message: str) -> str | None:
    """The missing name in Jinja2's "'dict object' has no attribute 'plann'" or "'scor' is
    undefined", or in "{{ inputs.plann }} is undefined" (a one-expression template)."""
    if "has no attribute '" in message:
        return message.split("has no attribute '", 1)[1].split("'", 1)[0]
    if message.endswith("' is undefined"):
        return message[: -len("' is undefined")].rsplit("'", 1)[-1]
    if message.startswith("{{") and message.endswith("}} is undefined"):
        expression = message[2 : -len("}} is undefined")].strip()
        return expression.rsplit(".", 1)[-1]
    return None


def _sample(field: FieldSpec) -> Any:
    if field.type == "category":
        return (field.values or ["value"])[0]
    return _SAMPLES[field.type]
