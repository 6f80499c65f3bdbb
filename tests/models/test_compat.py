from __future__ import annotations

from pathlib import Path

from doorstep.core.spec.models import FieldSpec
from doorstep.models.compat import check_model_inputs, unseen_categories
from doorstep.models.lightgbm import LightGBMModel

PLANS = ["plus", "basic", "premium"]


def _fields(**overrides: FieldSpec | None) -> dict[str, FieldSpec]:
    fields: dict[str, FieldSpec | None] = {
        "tenure": FieldSpec(type="int"),
        "plan": FieldSpec(type="category", values=PLANS),
        "spend": FieldSpec(type="float"),
        "tickets": FieldSpec(type="int"),
    }
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


def test_matching_spec_has_no_mismatch(lgb_binary: Path) -> None:
    meta = LightGBMModel.load(lgb_binary, task="binary").metadata
    assert check_model_inputs(meta, _fields()) == []


def test_each_kind_of_mismatch_is_one_line(lgb_binary: Path) -> None:
    meta = LightGBMModel.load(lgb_binary, task="binary").metadata
    fields = _fields(
        tenure=None,
        tenure_months=FieldSpec(type="int"),
        email=FieldSpec(type="string"),
        spend=FieldSpec(type="category", values=["low", "high"]),
        plan=FieldSpec(type="string"),
        note=FieldSpec(type="string", feature=False),
    )
    lines = check_model_inputs(meta, fields)
    assert lines == [
        "the model uses 'tenure' but the spec has no such input (did you mean 'tenure_months'?)",
        "the spec's input 'tenure_months' is not used by the model (did you mean 'tenure'?); "
        "set 'feature: false' on it if it is carried only for actions",
        "the spec's input 'email' is not used by the model; set 'feature: false' on it if it is "
        "carried only for actions",
        "'plan' is of type 'string' in the spec but the model treats it as a category; declare "
        "it as 'type: category' with its 'values'",
        "'spend' is a category in the spec but the model treats it as a number; train the model "
        "with it as a categorical feature (pandas 'category' dtype or an encoder), or declare it "
        "with a numeric type",
    ]


def test_category_value_the_model_never_saw_is_a_warning(lgb_binary: Path) -> None:
    meta = LightGBMModel.load(lgb_binary, task="binary").metadata
    fields = _fields(plan=FieldSpec(type="category", values=[*PLANS, "enterprise"]))
    assert check_model_inputs(meta, fields) == []  # scored as missing: not a mismatch
    assert unseen_categories(meta, fields) == [
        "'plan': the model never saw the value(s) 'enterprise' (it knows 'plus', 'basic', "
        "'premium'); they are scored as missing"
    ]
    assert unseen_categories(meta, _fields()) == []


def test_input_that_is_not_a_feature(lgb_binary: Path) -> None:
    meta = LightGBMModel.load(lgb_binary, task="binary").metadata
    fields = _fields(tickets=FieldSpec(type="int", feature=False))
    assert check_model_inputs(meta, fields) == [
        "the model uses 'tickets' but the spec has no such input (it is an input, but has "
        "'feature: false')"
    ]


def test_positional_model_compares_the_count(lgb_positional: Path) -> None:
    meta = LightGBMModel.load(lgb_positional, task="regression").metadata
    ok = {n: FieldSpec(type="float") for n in ("tenure", "tickets", "spend")}
    assert check_model_inputs(meta, ok) == []
    lines = check_model_inputs(meta, _fields())
    assert len(lines) == 1
    assert lines[0].startswith(
        "the model takes 3 unnamed features (Column_0…Column_2) but the "
        "spec declares 4 feature inputs; without names in the model, the "
        "spec's field order is used"
    )


def test_a_bool_the_model_reads_as_text_says_what_to_declare() -> None:
    from doorstep.core.ports import ModelMetadata

    meta = ModelMetadata(
        kind="lightgbm",
        task="binary",
        feature_names=["autopay"],
        content_hash="",
        categories={"autopay": ["False", "True"]},  # a bool column after astype(str)
    )
    (line,) = check_model_inputs(meta, {"autopay": FieldSpec(type="bool")})
    assert line.startswith("'autopay' is of type 'bool' in the spec but the model treats it as")
    assert """declare it as 'type: category' with 'values: ["False", "True"]'""" in line
    spelled = FieldSpec(type="category", values=["False", "True"])
    assert check_model_inputs(meta, {"autopay": spelled}) == []
