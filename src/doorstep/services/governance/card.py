"""A model card of an app (``doorstep card``): one object with the sections of "Model Cards
for Model Reporting" (Mitchell et al., 2019) that a deployed decision service can fill, each
from where it is known —

| section | from |
| --- | --- |
| model details | the spec (``app``, ``model``), the loaded model, the registered versions |
| intended use, out of scope | ``app.description`` and the spec's ``card`` text |
| factors | the inputs (labels, units, ranges), the sensitive attributes |
| metrics | what the monitor measures: the policy's actions, review band, control group |
| evaluation data | the reference sample's summary and the model's quality on its labels |
| training data | ``card.training_data`` (the reference sample is what doorstep can see of it) |
| quantitative analyses | the monitoring report, fairness per group, stored explanations |
| ethical considerations, caveats | ``card.ethical_considerations`` and ``card.limitations`` |

and the history of versions and their ``model…`` audit events, with a page per version
(:mod:`card_versions`). :mod:`card_html` and
:mod:`card_markdown` render it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from doorstep import __version__
from doorstep.errors import InputError
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.governance.card_versions import VersionPage, VersionsStore, version_pages
from doorstep.services.governance.importance import ImportanceSummary, stored_importance
from doorstep.services.governance.reference_summary import ReferenceSummary, summarise_reference
from doorstep.services.monitor.drift import ProfileCache, drift_thresholds
from doorstep.services.monitor.fairness import FairnessReport, fairness_report
from doorstep.services.monitor.report import monitoring_report
from doorstep.store.protocols import AuditStore, DecisionStore, OutcomeStore
from doorstep.types import AuditEvent, MonitoringReport

__all__ = ["CardStore", "InputRow", "ModelCard", "model_card"]

Stage = Callable[[str, int, int], None]
"""Told as each stage starts: what it does, the stages done, the stages in all."""
STAGES = 5


class CardStore(DecisionStore, OutcomeStore, VersionsStore, AuditStore, Protocol):
    """What a model card reads: decisions and their explanations, outcomes, versions and
    their decisions, audit."""


@dataclass(frozen=True)
class InputRow:
    """One input of the contract as the card lists it."""

    name: str
    label: str
    type: str
    unit: str
    allowed: str
    """Range (``0 to 600``) or categories."""
    feature: bool
    sensitive: bool
    pii: bool
    description: str


@dataclass(frozen=True)
class ModelCard:
    app: str
    description: str
    owner: str
    generated_at: datetime
    doorstep_version: str
    spec_path: str
    model_kind: str
    task: str
    model_path: str
    model_version: str
    content_hash: str
    library_version: str
    positive_class: str | None
    text: dict[str, str]
    """The spec's ``card`` text by key (empty keys left out)."""
    inputs: tuple[InputRow, ...]
    policy: tuple[str, ...]
    """The policy in sentences: rules, review band, control group, default."""
    reference: ReferenceSummary
    importance: ImportanceSummary
    monitoring: MonitoringReport
    fairness: FairnessReport | None
    fairness_note: str
    versions: tuple[dict[str, Any], ...]
    events: tuple[AuditEvent, ...]
    pages: tuple[VersionPage, ...] = ()
    """A page per registered version, the served one first (:mod:`card_versions`)."""


def model_card(
    app: LoadedApp,
    store: CardStore,
    *,
    spec_path: Path,
    profiles: Path | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
    on_stage: Stage | None = None,
) -> ModelCard:
    """The model card of ``app`` with live figures of ``[since, until)`` (default: the range
    ``doorstep monitor`` reports)."""
    now = now or datetime.now(UTC)
    stage = on_stage or (lambda _d, _n, _t: None)
    spec = app.spec
    if since is not None and until is not None and since >= until:
        raise InputError(
            f"'since' ({since.isoformat()}) must come before 'until' ({until.isoformat()})."
        )
    stage("Summarising the reference data", 0, STAGES)
    reference = summarise_reference(app)
    stage("Measuring live quality, ROI and drift", 1, STAGES)
    profile = ProfileCache(profiles).get(app) if spec.reference is not None else None
    report = monitoring_report(
        spec, store, since=since, until=until, now=now, profile=profile,
        thresholds=drift_thresholds(spec),
    )  # fmt: skip
    stage("Measuring fairness", 2, STAGES)
    fairness: FairnessReport | None = None
    note = ""
    if spec.sensitive_fields:
        fairness = fairness_report(spec, store, since=report.since, until=report.until, now=now)
    else:
        note = (
            "The spec marks no input as sensitive (inputs.fields.*.sensitive), so decisions "
            "are not grouped for fairness."
        )
    stage("Reading stored explanations", 3, STAGES)
    labels = {name: f.label or name for name, f in spec.inputs.fields.items()}
    importance = stored_importance(
        store, spec.app.name, labels=labels, top=spec.explain.top, since=report.since,
        until=report.until,
    )  # fmt: skip
    stage("Reading versions and their audit events", 4, STAGES)
    versions = tuple(store.model_versions(spec.app.name))
    events = tuple(store.app_audit(spec.app.name, kind_prefix="model"))
    pages = version_pages(
        spec, store, served=app.model_version, since=report.since, until=report.until, now=now
    )
    meta = app.model.metadata
    stage("Done", STAGES, STAGES)
    return ModelCard(
        app=spec.app.name,
        description=spec.app.description,
        owner=spec.app.owner,
        generated_at=now,
        doorstep_version=__version__,
        spec_path=str(spec_path),
        model_kind=meta.kind,
        task=spec.model.task,
        model_path=spec.model.path,
        model_version=app.model_version,
        content_hash=meta.content_hash,
        library_version=meta.library_version,
        positive_class=None
        if spec.model.positive_class is None
        else str(spec.model.positive_class),
        text={k: v for k, v in spec.card.model_dump().items() if v},
        inputs=tuple(_inputs(app)),
        policy=tuple(_policy(app)),
        reference=reference,
        importance=importance,
        monitoring=report,
        fairness=fairness,
        fairness_note=note,
        versions=versions,
        events=events,
        pages=pages,
    )


def _inputs(app: LoadedApp) -> list[InputRow]:
    rows = []
    for name, f in app.spec.inputs.fields.items():
        if f.values:
            allowed = ", ".join(f.values)
        elif f.min is not None or f.max is not None:
            low = "" if f.min is None else f"{f.min:g}"
            high = "" if f.max is None else f"{f.max:g}"
            allowed = (
                f"{low} to {high}"
                if low and high
                else (f"at least {low}" if low else f"at most {high}")
            )
        else:
            allowed = ""
        rows.append(
            InputRow(
                name, f.label or name, f.type, f.unit or "", allowed, f.feature, f.sensitive,
                f.pii, f.description,
            )
        )  # fmt: skip
    return rows


def _policy(app: LoadedApp) -> list[str]:
    policy = app.spec.policy
    lines = [
        f"When {rule.when}: {rule.action}" + (" (a person reviews it first)" if rule.review else "")
        for rule in policy.rules
    ]
    lines.append(f"Otherwise: {policy.default}.")
    if policy.control_group:
        lines.append(
            f"A control group of {policy.control_group:.0%} of entities (stable by id) is decided "
            "but never acted on, to measure what acting changes."
        )
    return lines
