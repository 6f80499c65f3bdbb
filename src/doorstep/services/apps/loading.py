"""Load an app: its spec, reference data and model, checked against each other.

Everything that can be wrong with an app is found here, before the first record is scored, and
reported in the spec's own ``file:line key: message`` form.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import polars as pl

from doorstep.core.contract import ROW_COLUMN, validate_batch
from doorstep.core.policy import CompiledPolicy, compile_policy
from doorstep.core.ports import ExplainerChoice, Model
from doorstep.core.spec.loader import (
    SpecDocument,
    check_spec,
    parse_spec,
    policy_columns,
    policy_issues,
)
from doorstep.core.spec.models import Spec
from doorstep.engines.files import read_sample
from doorstep.errors import DoorstepError, ExplanationError, SpecError, SpecIssue
from doorstep.explainers.additivity import check_additivity
from doorstep.models.compat import check_model_inputs, unseen_categories
from doorstep.models.fallback import (
    BACKGROUND_ROWS,
    PermutationModel,
    background_sample,
)
from doorstep.plugins import load_model

__all__ = ["Canary", "LoadedApp", "load_app", "read_spec", "with_model"]

ADDITIVITY_ROWS = 200
"""Reference rows on which contributions must add up to the model's output at load time."""
ADDITIVITY_TOLERANCE = 1e-4
"""Largest gap allowed, in link units: exact float64 methods reach ~1e-12, float32 models
(XGBoost, ONNX) ~1e-5; a wrong explainer is off by 1e-2 or more."""


@dataclass(frozen=True)
class LoadedApp:
    """An app ready to decide: spec, model, compiled policy and a reference sample."""

    doc: SpecDocument
    root: Path
    model: Model
    policy: CompiledPolicy
    reference: pl.DataFrame | None
    """Validated reference rows (features only), or ``None`` when the spec names none."""
    additivity_error: float | None
    """Largest additivity error measured at load time (``None`` when explanations are off)."""
    warnings: tuple[str, ...] = ()
    """Problems that do not stop the app, e.g. reference rows that break the contract."""
    version: str | None = None
    """The model version served, when it is not the spec's own (a registered version)."""
    reference_outcomes: pl.Series | None = None
    """The reference rows' outcomes, row for row with ``reference``: its column named
    ``monitoring.outcome.field`` (``None`` when the file has no such column). Estimated quality
    calibrates the model's scores on them."""
    canary: Canary | None = None
    """Another version deciding a share of the entities (see ``doorstep models canary``)."""
    shadow: LoadedApp | None = None
    """Another version scoring every record beside this one, never acted on."""

    @property
    def spec(self) -> Spec:
        return self.doc.spec

    @property
    def name(self) -> str:
        return self.doc.spec.app.name

    @property
    def model_version(self) -> str:
        if self.version is not None:
            return self.version
        declared = self.doc.spec.model.version
        return declared or self.model.metadata.content_hash.removeprefix("sha256:")[:12]

    @property
    def classes(self) -> list[str]:
        return self.model.metadata.classes if self.spec.model.task == "multiclass" else []


@dataclass(frozen=True)
class Canary:
    """A version deciding the entities whose canary hash falls under ``share`` (in (0, 1])."""

    app: LoadedApp
    share: float


def read_spec(path: Path, env: Mapping[str, str] | None = None) -> SpecDocument:
    """Read and parse a spec file (errors are located in that file)."""
    return parse_spec(_text(path), file=str(path), env=os.environ if env is None else env)


def _text(path: Path) -> str:
    if not path.is_file():
        raise SpecError([SpecIssue(str(path), None, "", "spec file does not exist")])
    return path.read_text(encoding="utf-8")


def load_app(path: Path, env: Mapping[str, str] | None = None) -> LoadedApp:
    """Parse the spec, read the reference sample, load the model and check that they agree.

    Every problem is reported at once: the spec's own, the reference data's, the model's and
    its mismatches with the inputs, and the rules' (compiled knowing the model, so that a rule
    naming a feature the model uses but no input declares says the input is missing)."""
    doc, issues = check_spec(
        _text(path), file=str(path), env=os.environ if env is None else env, policy=False
    )
    if doc is None:  # the spec cannot be built: its problems are all there is to say
        raise SpecError(issues)
    root = path.resolve().parent
    outcomes: pl.Series | None = None
    try:
        reference, outcomes, warnings = _read_reference(doc, root)
    except SpecError as exc:  # go on without it, to report the model's problems as well
        reference, warnings = None, ()
        issues += exc.issues
    app = _assemble(doc, root, reference, warnings, issues, root / doc.spec.model.path, None)
    return replace(app, reference_outcomes=outcomes)


def with_model(app: LoadedApp, model_path: Path, *, version: str) -> LoadedApp:
    """``app`` deciding with the model in ``model_path`` instead, as version ``version``.

    The model is checked exactly as at load time (inputs, categories, the policy's columns,
    explanations and their additivity on the reference); a model that does not fit the app's
    contract raises :class:`SpecError` located at the spec's ``model.path``."""
    assembled = _assemble(app.doc, app.root, app.reference, app.warnings, [], model_path, version)
    return replace(assembled, reference_outcomes=app.reference_outcomes)


def _assemble(
    doc: SpecDocument,
    root: Path,
    reference: pl.DataFrame | None,
    warnings: tuple[str, ...],
    issues: list[SpecIssue],
    model_path: Path,
    version: str | None,
) -> LoadedApp:
    """Load the model of ``model_path`` and check it against the spec and the reference."""
    spec = doc.spec
    model = _load_model(doc, model_path, reference, issues)
    undeclared: list[str] = []
    if model is not None:
        mismatches = check_model_inputs(model.metadata, spec.feature_fields)
        issues += [doc.issue(("model", "path"), m) for m in mismatches]
        unseen = unseen_categories(model.metadata, spec.feature_fields)
        warnings += tuple(str(doc.issue(("model", "path"), line)) for line in unseen)
        undeclared = [n for n in model.metadata.feature_names if n not in spec.inputs.fields]
    multiclass = spec.model.task == "multiclass"
    classes = model.metadata.classes if model is not None and multiclass else None
    columns = policy_columns(spec, classes)
    if model is not None or not multiclass:  # a multiclass policy needs the model's classes
        issues += policy_issues(doc, columns, undeclared=undeclared)
    if issues or model is None:
        raise SpecError(issues)
    categories = {n: f.values or [] for n, f in spec.inputs.fields.items() if f.values}
    if classes:
        categories["predicted_class"] = classes
    policy = compile_policy(spec.policy, columns, categories=categories, actions=list(spec.actions))
    model = _choose_explanations(doc, model, reference)
    additivity = None
    if reference is not None and spec.explain.top > 0:
        try:
            additivity = check_additivity(
                model, reference.head(ADDITIVITY_ROWS), atol=ADDITIVITY_TOLERANCE
            )
        except ExplanationError as exc:
            raise SpecError([doc.issue(("explain",), exc.message)]) from None
    return LoadedApp(doc, root, model, policy, reference, additivity, warnings, version)


def _load_model(
    doc: SpecDocument, model_path: Path, reference: pl.DataFrame | None, issues: list[SpecIssue]
) -> Model | None:
    """The model of ``model_path``, or ``None`` with the reason added to ``issues``."""
    spec = doc.spec
    if not model_path.exists():
        issues.append(doc.issue(("model", "path"), f"model file {model_path} does not exist"))
        return None
    try:
        return load_model(
            model_path,
            kind=spec.model.kind,
            task=spec.model.task,
            positive_class=None
            if spec.model.positive_class is None
            else str(spec.model.positive_class),
            reference=reference,
        )
    except DoorstepError as exc:
        issues.append(doc.issue(("model", "path"), exc.message))
        return None


def _choose_explanations(doc: SpecDocument, model: Model, reference: pl.DataFrame | None) -> Model:
    """Apply ``explain.method`` and ``explain.background`` to the loaded model."""
    explain = doc.spec.explain
    if isinstance(model, ExplainerChoice) and explain.method != "permutation":
        method = explain.method
        choice: Literal["auto", "linear", "native"] = (
            method if method == "linear" or method == "native" else "auto"
        )
        try:
            model.use_explainer(choice)
        except ExplanationError as exc:
            raise SpecError([doc.issue(("explain", "method"), exc.message)]) from None
    elif explain.method in ("linear", "native"):
        raise SpecError(
            [
                doc.issue(
                    ("explain", "method"),
                    f"'{explain.method}' is for tree models (LightGBM, XGBoost, scikit-learn "
                    f"trees); the {model.metadata.kind} model has no such method: use 'auto'",
                )
            ]
        )
    if reference is None or reference.height == 0:
        if explain.method == "permutation":
            raise SpecError(
                [doc.issue(("explain", "method"), "the permutation method needs 'reference:'")]
            )
        return model
    natural = model.contributions(reference.head(1)).method
    if explain.method == "exact" and natural == "permutation":
        raise SpecError(
            [
                doc.issue(
                    ("explain", "method"),
                    f"the {model.metadata.kind} model has no exact explanation method; use "
                    "'auto' or 'permutation'",
                )
            ]
        )
    if explain.method == "permutation" or (
        natural == "permutation" and explain.background != BACKGROUND_ROWS
    ):
        background = background_sample(reference, rows=explain.background)
        assert background is not None
        return PermutationModel(model, background, task=doc.spec.model.task)
    return model


def _read_reference(
    doc: SpecDocument, root: Path
) -> tuple[pl.DataFrame | None, pl.Series | None, tuple[str, ...]]:
    ref = doc.spec.reference
    if ref is None:
        return None, None, ()
    path = root / ref.path
    if not path.is_file():
        raise SpecError([doc.issue(("reference",), f"reference file {path} does not exist")])
    try:
        sample = read_sample(path, ref.sample)
        id_field = doc.spec.inputs.id
        if id_field not in sample.columns:  # training data need not carry entity ids
            sample = sample.with_row_index(id_field, offset=1).cast({id_field: pl.String})
        checked = validate_batch(sample, doc.spec.inputs)
    except DoorstepError as exc:
        raise SpecError([doc.issue(("reference",), f"{path.name}: {exc.message}")]) from None
    warnings: tuple[str, ...] = ()
    if checked.rejects.height:
        bad = "; ".join(checked.rejects.head(3)["message"].to_list())
        summary = (
            f"{checked.rejects['row'].n_unique()} of {sample.height} reference rows break the "
            f"input contract and are left out, e.g.: {bad}"
        )
        if checked.valid.height == 0:
            raise SpecError([doc.issue(("reference",), summary)])
        warnings = (str(doc.issue(("reference",), summary)),)
    return (
        checked.valid.select(list(doc.spec.feature_fields)),
        _outcomes(doc, sample, checked.valid),
        warnings,
    )


def _outcomes(doc: SpecDocument, sample: pl.DataFrame, valid: pl.DataFrame) -> pl.Series | None:
    """The reference's outcome column, for the rows the contract let through."""
    spec = doc.spec
    default = "value" if spec.model.task == "regression" else "label"
    name = spec.monitoring.outcome.field or default
    if name not in sample.columns or name in spec.feature_fields:
        return None
    return sample[name].gather(valid[ROW_COLUMN] - 1)
