"""The spec's ``monitoring.alerts``: who hears about a breach, the quality thresholds, the
monitor's schedule and the retraining hook. Pure models: nothing is sent from here.

Drift alerts use the thresholds of ``monitoring.drift``; quality alerts use the ones below. A
metric where lower is worse (AUC, precision, recall, accuracy) breaches when it falls to or below
its threshold; one where higher is worse (Brier score, MAE, RMSE, override rate) when it rises
to or above it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from doorstep.core.spec.sources import check_cron, check_timezone
from doorstep.core.suggest import did_you_mean

if TYPE_CHECKING:
    from doorstep.core.spec.loader import SpecDocument
    from doorstep.errors import SpecIssue

__all__ = [
    "ALERT_CONNECTOR_TYPES",
    "ESTIMATED_BINARY",
    "ESTIMATED_REGRESSION",
    "HIGHER_IS_WORSE",
    "LOWER_IS_WORSE",
    "AlertScheduleSpec",
    "AlertedMetric",
    "AlertsSpec",
    "CanaryGuardSpec",
    "EstimatedAlertSpec",
    "QualityAlertSpec",
    "QualityThresholdSpec",
    "RetrainSpec",
    "alert_issues",
]

AlertedMetric: TypeAlias = Literal[
    "auc",
    "precision",
    "recall",
    "accuracy",
    "brier",
    "mae",
    "rmse",
    "override_rate",
    "rejected_rate",
]
"""A quality metric of the monitoring report, the override rate, or the rejected rate."""
LOWER_IS_WORSE: tuple[AlertedMetric, ...] = ("auc", "precision", "recall", "accuracy")
HIGHER_IS_WORSE: tuple[AlertedMetric, ...] = (
    "brier",
    "mae",
    "rmse",
    "override_rate",
    "rejected_rate",
)
ESTIMATED_BINARY = ("auc", "precision", "recall", "f1", "expected_value")
"""Metrics estimated for binary classifiers before outcomes (lower is worse)."""
ESTIMATED_REGRESSION = ("mae", "rmse")
"""Metrics estimated for regression models before outcomes (higher is worse)."""
ALERT_CONNECTOR_TYPES = ("webhook", "chat", "email", "file")
"""Connectors that can carry an alert (a SQL row has no place for a message)."""
_TASK_METRICS = {
    "binary": ("auc", "precision", "recall", "brier"),
    "regression": ("mae", "rmse"),
    "multiclass": ("accuracy",),
}

_HEADLINE = {"binary": "AUC", "regression": "MAE", "multiclass": "accuracy"}


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, use_attribute_docstrings=True
    )


class QualityThresholdSpec(_Strict):
    """``warn`` and ``alert`` levels of one metric (either may be left out), or
    ``from_reference: true``: levels derived from the reference data (see monitoring.md,
    Thresholds from the reference)."""

    warn: float | None = None
    alert: float | None = None
    from_reference: bool = False
    """Derive the levels from the reference: the metric measured on reference windows of the
    monitored windows' size, ``alert`` beyond ``k`` standard deviations from their mean
    towards worse, ``warn`` beyond ``k - 1``."""
    k: Annotated[float, Field(gt=0, le=10)] | None = None
    """Standard deviations for ``from_reference`` (default 3, as NannyML)."""

    @model_validator(mode="after")
    def _one_given(self) -> QualityThresholdSpec:
        if self.from_reference and (self.warn is not None or self.alert is not None):
            raise ValueError("give 'warn'/'alert' or 'from_reference: true', not both")
        if self.k is not None and not self.from_reference:
            raise ValueError("'k' applies to 'from_reference: true' only")
        if self.warn is None and self.alert is None and not self.from_reference:
            raise ValueError("give 'warn', 'alert', both, or 'from_reference: true'")
        return self


class QualityAlertSpec(_Strict):
    """Quality thresholds per metric, judged on each window's labelled decisions."""

    auc: QualityThresholdSpec | None = None
    """Binary: alert when AUC falls to or below, e.g. ``{warn: 0.72, alert: 0.65}``."""
    precision: QualityThresholdSpec | None = None
    """Binary: precision at the action threshold, lower is worse."""
    recall: QualityThresholdSpec | None = None
    """Binary: recall at the action threshold, lower is worse."""
    accuracy: QualityThresholdSpec | None = None
    """Multiclass: accuracy, lower is worse."""
    brier: QualityThresholdSpec | None = None
    """Binary: Brier score, higher is worse, e.g. ``{warn: 0.2, alert: 0.25}``."""
    mae: QualityThresholdSpec | None = None
    """Regression: mean absolute error, higher is worse."""
    rmse: QualityThresholdSpec | None = None
    """Regression: root mean squared error, higher is worse."""
    override_rate: QualityThresholdSpec | None = None
    rejected_rate: QualityThresholdSpec | None = None
    """Share of the records that arrived in a window that the input contract refused, higher
    is worse, e.g. ``{warn: 0.02, alert: 0.05}``; judged once ``min_labelled`` records arrived."""
    """Share of reviewed decisions whose reviewer overrode the policy, higher is worse."""
    min_labelled: Annotated[int, Field(ge=1)] | None = None
    """Labelled decisions (reviewed ones for ``override_rate``) a window needs before its
    metrics can raise or clear an alert; default ``monitoring.min_samples.quality``."""

    def thresholds(self) -> dict[AlertedMetric, QualityThresholdSpec]:
        """The metrics given, by name."""
        names = (*LOWER_IS_WORSE, *HIGHER_IS_WORSE)
        return {n: t for n in names if (t := getattr(self, n)) is not None}

    @model_validator(mode="after")
    def _ordered(self) -> QualityAlertSpec:
        for name, given in self.thresholds().items():
            if given.warn is None or given.alert is None:
                continue
            if name in LOWER_IS_WORSE and given.warn < given.alert:
                raise ValueError(
                    f"{name}: lower is worse, so 'warn' ({given.warn}) must be at or above "
                    f"'alert' ({given.alert})"
                )
            if name in HIGHER_IS_WORSE and given.warn > given.alert:
                raise ValueError(
                    f"{name}: higher is worse, so 'warn' ({given.warn}) must be at or below "
                    f"'alert' ({given.alert})"
                )
        return self


class EstimatedAlertSpec(_Strict):
    """Thresholds on quality estimated before outcomes arrive, judged on each window's
    decisions: binary classifiers' ``auc``, ``precision``, ``recall``, ``f1`` and
    ``expected_value`` (lower is worse), regression models' ``mae`` and ``rmse`` (higher is
    worse)."""

    auc: QualityThresholdSpec | None = None
    """Estimated AUC, e.g. ``{warn: 0.72, alert: 0.65}``."""
    precision: QualityThresholdSpec | None = None
    recall: QualityThresholdSpec | None = None
    f1: QualityThresholdSpec | None = None
    expected_value: QualityThresholdSpec | None = None
    """Expected value per decision (the actions' ``value`` and ``cost``)."""
    mae: QualityThresholdSpec | None = None
    """Regression: estimated mean absolute error, e.g. ``{warn: 12, alert: 15}``."""
    rmse: QualityThresholdSpec | None = None
    """Regression: estimated root mean squared error."""

    def thresholds(self) -> dict[str, QualityThresholdSpec]:
        """The metrics given, by name."""
        names = (*ESTIMATED_BINARY, *ESTIMATED_REGRESSION)
        return {n: t for n in names if (t := getattr(self, n)) is not None}

    @model_validator(mode="after")
    def _ordered(self) -> EstimatedAlertSpec:
        for name, given in self.thresholds().items():
            if given.warn is None or given.alert is None:
                continue
            if name in ESTIMATED_BINARY and given.warn < given.alert:
                raise ValueError(
                    f"{name}: lower is worse, so 'warn' ({given.warn}) must be at or above "
                    f"'alert' ({given.alert})"
                )
            if name in ESTIMATED_REGRESSION and given.warn > given.alert:
                raise ValueError(
                    f"{name}: higher is worse, so 'warn' ({given.warn}) must be at or below "
                    f"'alert' ({given.alert})"
                )
        return self


class AlertScheduleSpec(_Strict):
    cron: str
    """When ``doorstep serve`` runs the monitor, as a cron expression, e.g. ``15 * * * *``
    (a quarter past every hour)."""
    timezone: str = "UTC"
    """Time zone of the cron expression (IANA name)."""

    @field_validator("cron")
    @classmethod
    def _check_cron(cls, value: str) -> str:
        return check_cron(value)

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        return check_timezone(value)


class RetrainSpec(_Strict):
    """What to start when drift or quality loss is sustained: a ``webhook`` connector (sent
    through the outbox) or a ``command`` (run by the monitor)."""

    webhook: str | None = None
    """A connector of type ``webhook`` (a key of ``connectors``) that receives a
    ``retrain.requested`` event."""
    command: Annotated[list[str], Field(min_length=1)] | None = None
    """A program and its arguments, run without a shell in the spec's folder, e.g.
    ``[python, retrain.py]``; the event's JSON is in ``DOORSTEP_RETRAIN_EVENT``."""
    after: Annotated[int, Field(ge=1, le=100)] = 3
    """Sustained means: this many consecutive windows in ``alert``."""
    on: list[Literal["drift", "quality"]] = ["drift", "quality"]
    """Which alerts count: drift of inputs or score, loss of quality, or both."""
    timeout: Annotated[float, Field(gt=0, le=86_400)] = 600.0
    """Seconds the command may run before it is stopped."""

    @model_validator(mode="after")
    def _one_hook(self) -> RetrainSpec:
        if (self.webhook is None) == (self.command is None):
            raise ValueError("give either 'webhook' (a connector name) or 'command' (a list)")
        return self


class CanaryGuardSpec(_Strict):
    """The rule that stops a canary doing worse than the champion, judged by each monitor run
    on the decisions since the canary started (champion against challenger, as ``doorstep
    models compare``): the canary's headline metric (AUC, accuracy or MAE) is worse than the
    champion's with the interval of the difference excluding zero, by at least ``margin``."""

    margin: Annotated[float, Field(ge=0)] = 0.0
    """How much worse the estimate must be, in the metric's units (AUC and accuracy: 0.02 is
    2 points; MAE: in the outcome's units); 0: any difference whose interval excludes zero."""
    min_labelled: Annotated[int, Field(ge=1)] | None = None
    """Labelled decisions each version needs before the rule is judged; default
    ``monitoring.min_samples.quality``."""
    stop: bool = True
    """Stop the canary (back to ``candidate``) when the rule fires; ``false``: alert only."""


class AlertsSpec(_Strict):
    """Alerts on drift and quality, raised once per breach and resolved when it clears."""

    connectors: Annotated[list[str], Field(min_length=1)]
    """Connectors (keys of ``connectors``: webhook, chat, email or file) that receive alerts."""
    level: Literal["warn", "alert"] = "alert"
    """The lowest status that raises an alert: ``alert``, or ``warn`` (then a breach that
    worsens to ``alert`` sends one more message)."""
    drift: bool = True
    """Alert on drift of each input and of the score, with ``monitoring.drift``'s thresholds."""
    quality: QualityAlertSpec = QualityAlertSpec()
    estimated: EstimatedAlertSpec = EstimatedAlertSpec()
    """Thresholds on estimated quality (binary classifiers whose reference data holds
    outcomes; see monitoring.md, Estimated quality)."""
    schedule: AlertScheduleSpec | None = None
    """When ``doorstep serve`` runs the monitor (without it, only ``doorstep monitor
    --alert`` does)."""
    include_current: bool = False
    """Judge the window still filling (``true``) or, by default, the latest complete one."""
    retrain: RetrainSpec | None = None
    canary: CanaryGuardSpec | None = None
    """Stop a canary that does worse than the champion, and raise the ``canary.quality``
    alert (see rollout.md, The canary stopped by the monitor)."""


def alert_issues(doc: SpecDocument) -> list[SpecIssue]:
    """``monitoring.alerts`` against the connectors and the model's task."""
    spec = doc.spec
    alerts = spec.monitoring.alerts
    if alerts is None:
        return []
    issues: list[SpecIssue] = []
    names = list(spec.connectors)
    base = ("monitoring", "alerts")
    for index, name in enumerate(alerts.connectors):
        at: tuple[str | int, ...] = (*base, "connectors", index)
        declared = spec.connectors.get(name)
        if declared is None:
            issues.append(doc.issue(at, _unknown(name, names)))
        elif declared.type == "email" and not getattr(declared, "to", []):
            if "@" not in spec.app.owner:
                issues.append(
                    doc.issue(
                        ("connectors", name, "to"),
                        f"alerts through e-mail connector {name!r} go to app.owner by default, "
                        f"and {spec.app.owner!r} is not an e-mail address: give 'to' or make "
                        "app.owner an address",
                    )
                )
        elif declared.type not in ALERT_CONNECTOR_TYPES:
            issues.append(
                doc.issue(
                    at,
                    f"connector {name!r} is of type {declared.type!r}; alerts go to "
                    f"{', '.join(ALERT_CONNECTOR_TYPES)} connectors",
                )
            )
    allowed = (*_TASK_METRICS[spec.model.task], "override_rate", "rejected_rate")
    for metric, given in alerts.quality.thresholds().items():
        if metric not in allowed:
            issues.append(
                doc.issue(
                    (*base, "quality", metric),
                    f"{metric} is not measured for {spec.model.task} models; use "
                    f"{', '.join(allowed)}",
                )
            )
        elif given.from_reference:
            issues += _reference_issues(doc, (*base, "quality", metric, "from_reference"), metric)
    for estimated, given in alerts.estimated.thresholds().items():
        if given.from_reference:
            issues.append(
                doc.issue(
                    (*base, "estimated", estimated, "from_reference"),
                    "estimated quality takes 'warn'/'alert' levels; 'from_reference' applies "
                    "to monitoring.alerts.quality",
                )
            )
    estimable = {"binary": ESTIMATED_BINARY, "regression": ESTIMATED_REGRESSION}.get(
        spec.model.task, ()
    )
    for estimated in alerts.estimated.thresholds():
        if estimated not in estimable:
            issues.append(
                doc.issue(
                    (*base, "estimated", estimated),
                    f"{estimated} is not estimated for {spec.model.task} models; "
                    + (
                        f"use {', '.join(estimable)}"
                        if estimable
                        else "quality is estimated for binary and regression models only"
                    ),
                )
            )
    guard = alerts.canary
    if guard is not None and spec.model.task != "regression" and guard.margin >= 1:
        issues.append(
            doc.issue(
                (*base, "canary", "margin"),
                f"the canary is judged on {_HEADLINE[spec.model.task]}, a share between 0 and 1: "
                f"a margin of {guard.margin:g} can never be reached (0.02 is 2 points)",
            )
        )
    hook = alerts.retrain
    if hook is not None and hook.webhook is not None:
        declared = spec.connectors.get(hook.webhook)
        key = (*base, "retrain", "webhook")
        if declared is None:
            issues.append(doc.issue(key, _unknown(hook.webhook, names)))
        elif declared.type != "webhook":
            issues.append(
                doc.issue(
                    key,
                    f"connector {hook.webhook!r} is of type {declared.type!r}; the retraining "
                    "hook needs a 'webhook' connector (or use 'command')",
                )
            )
    if hook is not None:
        watched = [
            kind
            for kind in hook.on
            if (kind == "drift" and alerts.drift)
            or (
                kind == "quality" and (alerts.quality.thresholds() or alerts.estimated.thresholds())
            )
        ]
        if not watched:
            issues.append(
                doc.issue(
                    (*base, "retrain", "on"),
                    f"the hook waits for {' or '.join(hook.on)} alerts, which are off: set "
                    "'drift: true' or a 'quality' threshold",
                )
            )
    return issues


def _reference_issues(doc: SpecDocument, at: tuple[str | int, ...], metric: str) -> list[SpecIssue]:
    """Why ``metric``'s threshold cannot be derived from the reference, if it cannot."""
    spec = doc.spec
    if metric not in _FROM_REFERENCE or spec.model.task == "multiclass":
        return [
            doc.issue(
                at,
                f"{metric} cannot be derived from the reference; derivable: "
                f"{', '.join(_FROM_REFERENCE)} (binary and regression models), or give "
                "'warn'/'alert'",
            )
        ]
    if spec.reference is None:
        return [doc.issue(at, "needs reference data: set 'reference.path' to a file with outcomes")]
    if metric in ("precision", "recall") and spec.monitoring.threshold is None:
        return [
            doc.issue(
                at,
                f"{metric} on the reference needs 'monitoring.threshold' (the score at which a "
                "row predicts positive; reference rows have no actions)",
            )
        ]
    return []


_FROM_REFERENCE = ("auc", "precision", "recall", "brier", "mae", "rmse")
"""Metrics whose thresholds can be derived from the reference."""


def _unknown(name: str, names: list[str]) -> str:
    return (
        f"unknown connector {name!r}"
        + did_you_mean(name, names)
        + (
            f"; declared connectors: {', '.join(names)}"
            if names
            else "; declare it under 'connectors'"
        )
    )
