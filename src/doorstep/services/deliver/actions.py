"""Deliveries: which actions of which decisions go to the outbox, and the connectors that carry
them. The dispatcher that sends them is :mod:`doorstep.services.deliver.dispatcher`; the operators'
commands (list, retry, cancel, enable) are :mod:`doorstep.services.deliver.operations`.

A decision gets one delivery when its action is not ``none``, it is not in the control group
(control decisions record the would-be action and deliver nothing) and the action names a
connector. The delivery is ``held`` while the decision waits for review and ``pending``
otherwise; it is written in the same transaction as the decision (see
:class:`doorstep.store.protocols.RecordRequest`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from doorstep.connectors.base import Connector, ConnectorContext, redact
from doorstep.core.spec.loader import SpecDocument
from doorstep.core.spec.models import Spec
from doorstep.errors import ConnectorSpecError, DoorstepError, PluginError, SpecError, SpecIssue
from doorstep.ids import new_id
from doorstep.plugins import connector_factory
from doorstep.services.apps.loading import read_spec
from doorstep.services.apps.registry import discover_specs
from doorstep.services.deliver.template_check import check_templates
from doorstep.store.canonical import iso
from doorstep.store.protocols import DecisionRecord, DeliveryRecord

__all__ = [
    "AppConnectors",
    "HasSpec",
    "SpecFile",
    "SpecSource",
    "decision_url",
    "deliveries_for",
    "delivery_for",
    "delivery_context",
    "delivery_key",
    "load_connectors",
    "open_app_connectors",
    "read_app_connectors",
    "secret_values",
]

NO_ACTION = "none"
MIN_SECRET = 4
"""Shorter values from the environment are not treated as secrets (they would redact ``true``,
port numbers and the like everywhere)."""


class HasSpec(Protocol):
    """Anything holding an app's spec: a :class:`~doorstep.services.apps.loading.LoadedApp`, a
    :class:`SpecFile`, an :class:`AppConnectors`."""

    @property
    def spec(self) -> Spec: ...


class SpecSource(Protocol):
    """An app's parsed spec and its folder: :class:`~doorstep.services.apps.loading.LoadedApp`
    is one."""

    @property
    def doc(self) -> SpecDocument: ...

    @property
    def root(self) -> Path: ...


@dataclass(frozen=True)
class SpecFile:
    """A spec read without its model (a worker delivers; it does not decide)."""

    doc: SpecDocument
    root: Path

    @property
    def spec(self) -> Spec:
        return self.doc.spec


def delivery_key(decision_id: str, action: str) -> str:
    """The stable idempotency key of (decision, action), e.g. ``0193…c2:retention_offer``: the
    same on every attempt, worker and re-drive; sent to receivers as ``webhook-id``."""
    return f"{decision_id}:{action}"


def delivery_for(
    spec: Spec, decision: DecisionRecord, action: str, *, held: bool, now: datetime | None = None
) -> DeliveryRecord | None:
    """The delivery of ``action`` for ``decision``, or ``None`` when the action delivers nothing
    (``none``, or no connector)."""
    if action == NO_ACTION:
        return None
    declared = spec.actions.get(action)
    if declared is None or declared.connector is None:
        return None
    moment = now or datetime.now(UTC)
    return DeliveryRecord(
        id=new_id(),
        decision_id=decision.id,
        app=decision.app,
        action=action,
        connector=declared.connector,
        key=delivery_key(decision.id, action),
        state="held" if held else "pending",
        created_at=moment,
    )


def deliveries_for(app: HasSpec, decisions: Sequence[DecisionRecord]) -> list[DeliveryRecord]:
    """The outbox rows of freshly made ``decisions`` (see the module docstring)."""
    spec = app.spec
    now = datetime.now(UTC)
    out: list[DeliveryRecord] = []
    for decision in decisions:
        if decision.control or decision.status == "held_out":
            continue
        record = delivery_for(
            spec, decision, decision.action, held=decision.status == "pending_review", now=now
        )
        if record is not None:
            out.append(record)
    return out


def decision_url(public_url: str | None, decision_id: str) -> str:
    """The decision's page, where people read it and review it (empty without a public URL);
    the JSON stays at ``/v1/decisions/{id}``."""
    if not public_url:
        return ""
    return f"{public_url.rstrip('/')}/decisions/{decision_id}"


def delivery_context(
    decision: DecisionRecord, action: str, *, public_url: str | None = None
) -> dict[str, Any]:
    """What payload templates see (see :attr:`doorstep.connectors.base.Delivery.context`)."""
    context: dict[str, Any] = {
        "decision_id": decision.id,
        "app": decision.app,
        "entity_id": decision.entity_id,
        "score": decision.score,
        "action": action,
        "status": decision.status,
        "rule": decision.rule,
        "reasons": decision.reasons or [],
        "reasons_text": decision.reasons_text or "",
        "inputs": decision.inputs,
        "model_version": decision.model_version,
        "created_at": iso(decision.created_at),
        "decision_url": decision_url(public_url, decision.id),
    }
    if decision.predicted_class is not None:
        context["predicted_class"] = decision.predicted_class
    return context


def secret_values(doc: SpecDocument) -> frozenset[str]:
    """The values of a spec that came from the environment (``${VAR}``), to be kept out of
    attempt details and logs. A value mixing text and a variable (``Bearer ${TOKEN}``) counts
    whole and by its words of 8 characters or more."""
    data = doc.spec.model_dump(by_alias=True)
    found: set[str] = set()
    for key in doc.secret_keys:
        value: Any = data
        for part in key:
            try:
                value = value[part]
            except (KeyError, IndexError, TypeError):
                value = None
                break
        if value is None or isinstance(value, dict | list):
            continue
        text = str(value)
        if len(text) >= MIN_SECRET:
            found.add(text)
        found.update(word for word in text.split() if len(word) >= 8)
    return frozenset(found)


def load_connectors(app: SpecSource) -> dict[str, Connector]:
    """Build every connector of the app's spec through the ``doorstep.connectors`` entry points.

    Raises :class:`SpecError` located at the connector's key when its type is not installed or
    its settings are refused; connectors built before the failure are closed."""
    doc, secrets = app.doc, secret_values(app.doc)
    check_templates(doc)
    built: dict[str, Connector] = {}
    try:
        for name, spec in doc.spec.connectors.items():
            built[name] = _build(doc, app.root, name, spec, secrets)
    except BaseException:
        for connector in built.values():
            connector.close()
        raise
    return built


def _build(
    doc: SpecDocument, root: Path, name: str, spec: Any, secrets: frozenset[str]
) -> Connector:
    where = ("connectors", name)
    try:
        factory = connector_factory(spec.type, connector=name)
        model = getattr(factory, "spec_model", None)
        if model is not None and not isinstance(spec, model):
            spec = model.model_validate(spec.model_dump(by_alias=True))
        return factory.from_spec(spec, ConnectorContext(name=name, base_dir=root, secrets=secrets))
    except PluginError as exc:
        raise SpecError([doc.issue((*where, "type"), exc.message)]) from None
    except ConnectorSpecError as exc:  # located at its key, e.g. allow_networks[1]
        parts = [int(p) if p.isdigit() else p for p in re.findall(r"[^\[\].]+", exc.key)]
        raise SpecError([doc.issue((*where, *parts), redact(exc.message, secrets))]) from None
    except DoorstepError as exc:
        raise SpecError([doc.issue(where, redact(exc.message, secrets))]) from None
    except Exception as exc:  # a plugin refusing its settings
        message = f"the {spec.type} connector refused its settings: {type(exc).__name__}: {exc}"
        raise SpecError([doc.issue(where, redact(message, secrets))]) from None


@dataclass
class AppConnectors:
    """One app's spec (actions, payload templates, retry schedules) and live connectors."""

    spec: Spec
    connectors: Mapping[str, Connector]
    secrets: frozenset[str] = field(default_factory=frozenset)

    @property
    def name(self) -> str:
        return self.spec.app.name

    def close(self) -> None:
        for connector in self.connectors.values():
            connector.close()


def open_app_connectors(app: SpecSource) -> AppConnectors:
    """An app's connectors, ready for :class:`~doorstep.services.deliver.dispatcher.Dispatcher`."""
    return AppConnectors(app.doc.spec, load_connectors(app), secret_values(app.doc))


def read_app_connectors(
    paths: Sequence[Path], env: Mapping[str, str] | None = None
) -> list[AppConnectors]:
    """Read specs (files, or folders of them) without loading their models, and build their
    connectors: what ``doorstep worker`` needs. Every broken spec is reported."""
    opened: list[AppConnectors] = []
    issues: list[SpecIssue] = []
    names: dict[str, Path] = {}
    try:
        for path in discover_specs(paths):
            try:
                doc = read_spec(path, env)
                if doc.spec.app.name in names:
                    raise SpecError(
                        [
                            doc.issue(
                                ("app", "name"),
                                f"app {doc.spec.app.name!r} is already read from "
                                f"{names[doc.spec.app.name]}; give each app its own name",
                            )
                        ]
                    )
                opened.append(open_app_connectors(SpecFile(doc, path.resolve().parent)))
                names[doc.spec.app.name] = path
            except SpecError as exc:
                issues += exc.issues
        if issues:
            raise SpecError(issues)
    except BaseException:
        for app in opened:
            app.close()
        raise
    return opened
