"""The pydantic models of ``doorstep.yaml``. Field docstrings become the JSON Schema descriptions
that editors show, so each says what the key means and gives an example."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from doorstep.core.outcomes import parse_duration
from doorstep.core.spec.alerts import AlertsSpec
from doorstep.core.spec.audit import AuditSpec
from doorstep.core.spec.buses import (
    MQTTConnectorSpec,
    NATSConnectorSpec,
    RabbitMQConnectorSpec,
    RedisStreamConnectorSpec,
)
from doorstep.core.spec.card import CardSpec
from doorstep.core.spec.fairness import FairnessSpec
from doorstep.core.spec.governance import GovernanceSpec
from doorstep.core.spec.retry import RetrySpec
from doorstep.core.spec.sources import FeatureSourceSpec, ScheduleSpec, check_timezone
from doorstep.core.spec.streams import StreamSpec
from doorstep.core.windows import parse_window_name

__all__ = [
    "ActionSpec",
    "AppInfo",
    "ChatConnectorSpec",
    "ConnectorSpec",
    "DriftSpec",
    "DriftThresholdSpec",
    "EmailConnectorSpec",
    "ExplainSpec",
    "FieldSpec",
    "FieldType",
    "FileConnectorSpec",
    "InputsSpec",
    "MinSamplesSpec",
    "ModelSpec",
    "MonitoringSpec",
    "OutcomeSpec",
    "PolicySpec",
    "ReferenceSpec",
    "RetrySpec",
    "RuleSpec",
    "SQLConnectorSpec",
    "Spec",
    "WebhookConnectorSpec",
]

FieldType = Literal["int", "float", "bool", "category", "string", "datetime"]
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, use_attribute_docstrings=True
    )


class AppInfo(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=64)]
    """Short name used in URLs and the store, e.g. ``churn``."""
    owner: str
    """Accountable person (an e-mail address or a name), shown on every page."""
    description: str = ""
    """What the app decides, in one sentence; shown on the model card."""


class ModelSpec(_Strict):
    path: str
    """Model file or folder, relative to the spec file."""
    kind: Literal["auto", "lightgbm", "xgboost", "sklearn", "onnx", "mlflow"] | str = "auto"
    """Adapter to load it with; ``auto`` detects it from the file's content."""
    task: Literal["binary", "multiclass", "regression"] = "binary"
    positive_class: str | int | bool | None = None
    """Binary classifiers: the class whose probability is the score (default: the second)."""
    version: str | None = None
    """Human version label; defaults to the first 12 hex digits of the content hash."""


class FieldSpec(_Strict):
    type: FieldType
    required: bool = True
    """A missing value rejects the record. Optional fields reach the model as missing."""
    min: float | None = None
    max: float | None = None
    values: list[str] | None = None
    """Allowed values of a ``category`` field (required for categories)."""
    label: str | None = None
    """Business label used in reasons, e.g. ``Support tickets in the last 30 days``."""
    unit: str | None = None
    """Unit shown after values in reasons, e.g. ``EUR``."""
    pii: bool = False
    """Personal data: masked in logs and for roles without need."""
    feature: bool = True
    """Passed to the model. Set false for fields carried only for actions (e.g. an e-mail) or
    for fairness (a sensitive attribute the model must not see)."""
    sensitive: bool = False
    """A sensitive attribute (sex, age, region): decisions are grouped by it in fairness
    reports, and it is masked like ``pii`` wherever inputs are shown."""
    description: str = ""
    show_in_queue: bool = False
    """Shown on each row of the review queue, next to the score and the top reason (up to
    three fields; never personal data)."""
    actionable: bool = True
    """Something acting can change. Set false for facts such as tenure or age: the decision
    page's suggestions of what would change the decision leave them alone."""

    @property
    def masked(self) -> bool:
        """Masked wherever inputs are shown to roles without need: ``pii`` or ``sensitive``."""
        return self.pii or self.sensitive

    @model_validator(mode="after")
    def _check_rules(self) -> FieldSpec:
        if self.type == "category" and not self.values:
            raise ValueError("a category field needs 'values', the list of allowed categories")
        if self.values is not None and self.type != "category":
            raise ValueError(f"'values' applies to category fields only, not to type {self.type!r}")
        if (self.min is not None or self.max is not None) and self.type not in ("int", "float"):
            raise ValueError(
                f"'min'/'max' apply to int and float fields, not to type {self.type!r}"
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"'min' ({self.min}) is greater than 'max' ({self.max})")
        if self.values is not None and len(set(self.values)) != len(self.values):
            raise ValueError("'values' lists a category more than once")
        if self.show_in_queue and self.masked:
            raise ValueError(
                "'show_in_queue' shows the field to every role on the review queue: it cannot "
                "be set on personal data or a sensitive attribute ('pii: true', "
                "'sensitive: true')"
            )
        if not self.actionable and not self.feature:
            raise ValueError(
                "'actionable: false' applies to model features; this field has 'feature: false'"
            )
        return self

    @field_validator("values", mode="before")
    @classmethod
    def _values_as_text(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [str(v) for v in value]
        return value


QUEUE_FIELDS = 3
"""How many input fields may be shown on a row of the review queue."""


class InputsSpec(_Strict):
    id: Annotated[str, Field(pattern=NAME_PATTERN)]
    """Name of the entity id field (customer, order, machine), e.g. ``customer_id``."""
    fields: dict[Annotated[str, Field(pattern=NAME_PATTERN)], FieldSpec]
    """The input contract, one entry per field, in the order the model expects them."""

    @model_validator(mode="after")
    def _check_fields(self) -> InputsSpec:
        if not self.fields:
            raise ValueError("'fields' must declare at least one input")
        if self.id in self.fields:
            raise ValueError(f"the id field {self.id!r} must not be listed under 'fields' as well")
        shown = [name for name, f in self.fields.items() if f.show_in_queue]
        if len(shown) > QUEUE_FIELDS:
            raise ValueError(
                f"at most {QUEUE_FIELDS} fields may set 'show_in_queue' (a queue row stays "
                f"readable); got {len(shown)}: {', '.join(shown)}"
            )
        return self


class ReferenceSpec(_Strict):
    path: str
    """Parquet or CSV sample of the training data, relative to the spec file."""
    sample: Annotated[int, Field(ge=10, le=1_000_000)] = 10_000
    """At most this many rows are read (for checks, backgrounds and drift)."""


def _one_or_many(schema: dict[str, Any]) -> None:
    """A list's JSON Schema that also takes one of its items alone (editors then accept
    ``for: all`` as doorstep does)."""
    many = {k: schema.pop(k) for k in ("type", "items", "minItems") if k in schema}
    schema["anyOf"] = [many, many["items"]]


class ExplainSpec(_Strict):
    top: Annotated[int, Field(ge=0, le=20)] = 3
    """How many reasons each explained decision gets."""
    for_: Annotated[
        list[Literal["all", "acted", "review", "on_demand"]],
        Field(alias="for", min_length=1, json_schema_extra=_one_or_many),
    ] = ["acted", "review"]
    """Which decisions get reasons: ``all``; ``acted`` (an action other than the default);
    ``review`` (sent to a person); ``on_demand`` (none in batch, computed when asked). One
    value may be written alone: ``for: all`` is ``for: [all]``."""
    method: Literal["auto", "exact", "linear", "native", "permutation"] = "auto"
    """``auto``: the model's exact method when it has one (LightGBM, XGBoost, scikit-learn tree
    models: doorstep's ``linear-treeshap``, or the library's routine for trees it cannot read),
    else the permutation fallback; ``exact``: the same, refusing a model without an exact
    method; ``linear``: ``linear-treeshap`` or refuse; ``native``: the library's own TreeSHAP
    (``pred_contrib``, ``pred_contribs``; doorstep's numpy ``treeshap`` for scikit-learn);
    ``permutation``: the model-agnostic fallback for every model."""
    score_label: str = "the score"
    """What the score means, used in sentences: ``raises churn risk by 18 points``."""
    score_unit: str | None = None
    """Regression only: unit of the prediction, e.g. ``EUR`` (classifiers speak in points of
    probability)."""
    background: Annotated[int, Field(ge=10, le=5_000)] = 100
    """Reference rows used as background by the permutation fallback (its cost grows with it)."""

    @field_validator("for_", mode="before")
    @classmethod
    def _one_value_as_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class RuleSpec(_Strict):
    when: str
    """SQL expression over the inputs and ``score``, e.g. ``score >= 0.8 AND plan = 'premium'``."""
    action: str
    """Action name, or ``none``."""
    review: bool = False
    """Send matching decisions to a person before the action is delivered."""
    name: str | None = None
    """Label for reports; defaults to ``rule N``."""


class PolicySpec(_Strict):
    rules: list[RuleSpec] = []
    """Ordered; the first rule that matches decides."""
    default: str = "none"
    """Action when no rule matches."""
    control_group: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    """Fraction of entities, chosen by a stable hash of (app, entity id), that are decided but
    never acted on, so that the value of acting can be measured."""
    review_sla_hours: Annotated[float, Field(gt=0)] | None = None
    """Hours within which a decision sent for review should get its verdict; the review queue
    marks cases due and overdue."""
    review_undo_seconds: Annotated[float, Field(ge=0, le=600)] = 15.0
    """Seconds after a verdict during which its reviewer can undo it: the action it releases
    is held until then, and an undo returns the case to the queue. 0: no undo, delivered at
    once."""


class ActionSpec(_Strict):
    connector: str | None = None
    """Connector that delivers the action (a key of ``connectors``)."""
    payload: dict[str, Any] = {}
    """Template of the body sent, e.g. ``{customer: "{{ entity_id }}"}``."""
    value: float | None = None
    """Business value of one successful action, for ROI (e.g. a retained customer's margin)."""
    cost: float = 0.0
    """Cost of taking the action once."""
    description: str = ""


class _NetworkConnector(_Strict):
    allow_networks: list[str] = []
    """Networks (CIDR, e.g. ``10.0.0.0/8``, or single addresses) this connector may reach although
    they are private, loopback or link-local; such addresses are refused otherwise, checked on
    every resolved address when connecting."""
    timeout: Annotated[float, Field(gt=0, le=120)] = 10.0
    """Seconds for connecting and for each read."""
    retry: RetrySpec = RetrySpec()


class WebhookConnectorSpec(_NetworkConnector):
    type: Literal["webhook"]
    url: str
    """``https://`` (or ``http://``) endpoint receiving a POST with the action's payload."""
    secret: str | list[str] | None = None
    """Standard Webhooks signing secret (``whsec_`` + base64); use ``${ENV_VAR}``. During a
    rotation list the new and the old secret: each request is signed with both."""
    headers: dict[str, str] = {}
    """Extra request headers (templates allowed), e.g. ``Authorization: Bearer ${CRM_TOKEN}``."""


class SQLConnectorSpec(_NetworkConnector):
    type: Literal["sql"]
    url: str
    """SQLAlchemy URL of the target database, e.g. ``postgresql+psycopg://...``."""
    table: str
    key: str | None = None
    """Upsert on this column; insert only when absent."""
    columns: dict[str, str] = {}
    """Table column → template of its value, e.g. ``customer_id: "{{ entity_id }}"``; by
    default the payload's top-level keys are the columns."""


class EmailConnectorSpec(_NetworkConnector):
    type: Literal["email"]
    host: str
    port: int = 587
    starttls: bool = True
    """Upgrade the connection with STARTTLS (off only for local relays)."""
    username: str | None = None
    password: str | None = None
    sender: str
    to: list[str] = []
    """Recipients (templates allowed, e.g. ``"{{ inputs.account_manager }}"``); may be left out
    on a connector that carries only alerts: they then go to the app's owner (``app.owner``)."""
    subject: str = "doorstep: {{ action }} for {{ entity_id }}"
    body: str | None = None
    """Template of the plain-text part; by default the decision and its reasons. An HTML part
    with the same content is always added."""


class ChatConnectorSpec(_NetworkConnector):
    type: Literal["chat"]
    url: str
    """Slack-compatible incoming-webhook URL."""
    text: str | None = None
    """Template of the message text; by default the action, entity, score and reasons."""


class FileConnectorSpec(_Strict):
    type: Literal["file"]
    path: str
    """File to append to, relative to the spec file."""
    format: Literal["jsonl", "csv"] = "jsonl"
    retry: RetrySpec = RetrySpec()


ConnectorSpec = Annotated[
    WebhookConnectorSpec
    | SQLConnectorSpec
    | EmailConnectorSpec
    | ChatConnectorSpec
    | FileConnectorSpec
    | RabbitMQConnectorSpec
    | NATSConnectorSpec
    | RedisStreamConnectorSpec
    | MQTTConnectorSpec,
    Field(discriminator="type"),
]


class OutcomeSpec(_Strict):
    horizon: str = "30d"
    """How long after a decision an outcome keyed by entity still belongs to it: the outcome
    goes to the entity's latest decision made at most this long before it was observed
    (``30d``; units ``m``, ``h``, ``d``, ``w``)."""
    type: Literal["label", "value"] | None = None
    """``label`` (classifiers: what class it turned out to be) or ``value`` (regression: the
    number observed); by default as the model's task says."""
    field: Annotated[str, Field(pattern=NAME_PATTERN)] | None = None
    """Column of outcome files (and key of API bodies) holding the label or value, e.g.
    ``churned``; default ``label`` or ``value``."""
    positive: str | int | bool | None = None
    """The label of a positive outcome (default: the model's ``positive_class``, else 1)."""
    negative: str | int | bool | None = None
    """Binary: the label of a negative outcome (default 0 when the positive one is 1)."""
    goal: Literal["decrease", "increase"] = "decrease"
    """What acting should do to the positive rate (or the value): ``decrease`` (churn, default,
    failure) or ``increase`` (a purchase, a renewal). ROI counts uplift in this direction."""

    @field_validator("horizon")
    @classmethod
    def _check_horizon(cls, value: str) -> str:
        parse_duration(value)
        return value


class MinSamplesSpec(_Strict):
    quality: Annotated[int, Field(ge=1)] = 100
    """Labelled decisions a window needs before its quality metrics count as conclusive."""
    roi: Annotated[int, Field(ge=1)] = 100
    """Outcomes needed in each of the treated and the control group before ROI concludes (the
    power calculation may ask for more)."""


class DriftThresholdSpec(_Strict):
    """A statistic at or above ``warn`` warns, at or above ``alert`` alerts."""

    warn: Annotated[float, Field(ge=0)]
    alert: Annotated[float, Field(ge=0)]

    @model_validator(mode="after")
    def _ordered(self) -> DriftThresholdSpec:
        if self.warn > self.alert:
            raise ValueError(f"'warn' ({self.warn}) is greater than 'alert' ({self.alert})")
        return self


class DriftSpec(_Strict):
    """Drift thresholds per statistic (unset ones keep their defaults, see monitoring.md)."""

    psi: DriftThresholdSpec | None = None
    """Population stability index, e.g. ``{warn: 0.1, alert: 0.25}`` (the default)."""
    js_distance: DriftThresholdSpec | None = None
    wasserstein_norm: DriftThresholdSpec | None = None
    missing_rate_increase: DriftThresholdSpec | None = None
    out_of_range_rate: DriftThresholdSpec | None = None
    unseen_rate: DriftThresholdSpec | None = None
    attribution_share_change: DriftThresholdSpec | None = None
    reconstruction_increase: DriftThresholdSpec | None = None
    """Multivariate drift: rise of the mean PCA reconstruction error over the reference's,
    e.g. ``{warn: 0.05, alert: 0.1}`` (the default)."""
    min_rows: Annotated[int, Field(ge=1)] = 1000
    """Present values a window needs before drift statistics set a status (quality rates are
    checked at any size)."""
    attribution_rows: Annotated[int, Field(ge=0, le=100_000)] = 1000
    """Rows explained for attribution drift: a seeded sample of the reference, and per window a
    sample of its decisions chosen by a hash of the decision id; ``0`` turns it off. Below
    ``min_rows`` its statuses stay ``insufficient_data``."""
    attribution_windows: Annotated[int, Field(ge=1, le=1_000)] = 3
    """Attribution drift is measured in this many of the report's latest windows with decisions
    (explaining costs ~1 ms a row: see monitoring.md)."""


class MonitoringSpec(_Strict):
    window: str = "day"
    """Window of monitoring reports and alerts: ``hour``, ``day``, ``week``, ``month`` (calendar
    windows in ``timezone``) or a number of decisions, ``5000rows``."""
    timezone: str = "UTC"
    """Time zone of calendar windows (IANA name): where a day, a week, a month starts."""

    @field_validator("window")
    @classmethod
    def _check_window(cls, value: str) -> str:
        return parse_window_name(value).name

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        return check_timezone(value)

    outcome: OutcomeSpec = OutcomeSpec()
    """What an outcome is and how it is matched to decisions."""
    min_samples: MinSamplesSpec = MinSamplesSpec()
    threshold: Annotated[float, Field(ge=0, le=1)] | None = None
    """Binary: score at or above which a decision counts as predicted positive for precision
    and recall; default: the policy's own choice (an action other than ``none``)."""
    quality_on: Literal["all", "untreated"] = "all"
    """Which labelled decisions live quality is measured on: ``all``, or ``untreated`` (no
    action delivered: the control group, ``none``, overrides to ``none``), whose outcomes the
    action did not change."""
    calibration_bins: Annotated[int, Field(ge=2, le=50)] = 10
    """Equal-width score bins of the calibration table."""
    drift: DriftSpec = DriftSpec()
    """Drift thresholds (warn / alert per statistic) and the minimum sample size."""
    fairness: FairnessSpec = FairnessSpec()
    """Grouping by sensitive attributes for ``doorstep fairness``: bands of numeric fields and
    the smallest group reported."""
    alerts: AlertsSpec | None = None
    """Alerts raised once per breach through connectors, resolved when it clears, and an
    optional retraining hook (see monitoring.md, Alerts)."""
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None
    """ISO 4217 code of the actions' ``value`` and ``cost`` (``EUR``), for money on the pages;
    without it amounts are shown as plain numbers."""
    period: Literal["week", "month", "quarter"] = "month"
    """The span the dashboard's headline speaks of: the last 7, 30 or 91 days."""


class Spec(_Strict):
    """A doorstep app: one business decision, from inputs to actions."""

    app: AppInfo
    model: ModelSpec
    inputs: InputsSpec
    reference: ReferenceSpec | None = None
    explain: ExplainSpec = ExplainSpec()
    policy: PolicySpec = PolicySpec()
    actions: dict[Annotated[str, Field(pattern=NAME_PATTERN)], ActionSpec] = {}
    connectors: dict[Annotated[str, Field(pattern=NAME_PATTERN)], ConnectorSpec] = {}
    monitoring: MonitoringSpec = MonitoringSpec()
    features: dict[Annotated[str, Field(pattern=NAME_PATTERN)], FeatureSourceSpec] = {}
    """Sources that inputs are looked up in by entity id (SQL, Redis, Feast): a request may
    carry only the id; values it carries win over looked-up ones."""
    schedules: dict[Annotated[str, Field(pattern=NAME_PATTERN)], ScheduleSpec] = {}
    """Batch runs that ``doorstep serve`` starts on a cron schedule, deciding every entity of
    a SQL feature source."""
    streams: dict[Annotated[str, Field(pattern=NAME_PATTERN)], StreamSpec] = {}
    """Message buses whose events are decided as they arrive (``doorstep consume``; see
    streams.md)."""
    audit: AuditSpec = AuditSpec()
    """The audit trail: its head exported on a schedule (``anchor``), see audit.md."""
    card: CardSpec = CardSpec()
    """Text of the model card: intended use, out-of-scope uses, limitations (see card.md)."""
    governance: GovernanceSpec = GovernanceSpec()
    """Owners, approvers and the approvals a new champion needs; the revalidation cadence
    (see rollout.md)."""

    @field_validator("reference", mode="before")
    @classmethod
    def _reference_shorthand(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, str) else value

    @property
    def feature_fields(self) -> dict[str, FieldSpec]:
        """The fields passed to the model, in spec order."""
        return {name: f for name, f in self.inputs.fields.items() if f.feature}

    @property
    def sensitive_fields(self) -> dict[str, FieldSpec]:
        """The fields marked ``sensitive``, in spec order."""
        return {name: f for name, f in self.inputs.fields.items() if f.sensitive}
