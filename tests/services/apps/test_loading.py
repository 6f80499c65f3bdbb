"""Loading an app: spec, reference and model checked against each other, errors located."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from doorstep.errors import SpecError
from doorstep.services.apps.loading import LoadedApp, load_app, with_model

pytestmark = pytest.mark.slow


def edit(spec: Path, old: str, new: str) -> None:
    text = spec.read_text()
    assert old in text, old
    spec.write_text(text.replace(old, new, 1))


def issues_of(spec: Path) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_app(spec)
    return [str(issue) for issue in info.value.issues]


def test_example_app_loads_and_is_additive(churn_app: Path) -> None:
    app = load_app(churn_app / "doorstep.yaml")
    assert app.name == "churn"
    assert app.model.metadata.kind == "lightgbm"
    assert app.model.metadata.content_hash.startswith("sha256:")
    assert app.model_version == app.model.metadata.content_hash[7:19]
    assert app.reference is not None and app.reference.height == 5_000  # the held-out rows
    assert app.additivity_error is not None and app.additivity_error < 1e-6
    assert app.warnings == ()


def test_missing_model_file_is_located(churn_app: Path) -> None:
    spec = churn_app / "doorstep.yaml"
    edit(spec, "path: model.lgb.txt", "path: model.txt")
    (message,) = issues_of(spec)
    assert message.startswith(f"{spec}:9 model.path: model file ")
    assert "does not exist" in message


def test_model_spec_mismatch_lists_every_problem(churn_app: Path) -> None:
    spec = churn_app / "doorstep.yaml"
    edit(spec, "    tenure_months:  ", "    tenure:  ")
    edit(spec, "AND tenure_months >= 6", "AND tenure >= 6")
    edit(spec, "{type: category, values: [north, south, east, west]", "{type: int")
    *messages, reference = issues_of(spec)  # in line order; the reference lacks 'tenure' too
    assert reference.startswith(f"{spec}:30 reference:") and "'tenure'" in reference
    assert len(messages) >= 3
    assert all(m.startswith(f"{spec}:9 model.path:") for m in messages), messages
    text = "\n".join(messages)
    assert "tenure_months" in text and "tenure" in text
    assert "region" in text


def test_unknown_column_in_rule_is_located(churn_app: Path) -> None:
    spec = churn_app / "doorstep.yaml"
    edit(spec, 'when: "score >= 0.60"', 'when: "scroe >= 0.60"')
    (message,) = issues_of(spec)
    assert "policy.rules[1].when: unknown column 'scroe'" in message
    assert "did you mean 'score'?" in message


def test_reference_rows_that_break_the_contract_are_reported(churn_app: Path) -> None:
    spec = churn_app / "doorstep.yaml"
    edit(spec, "{type: int, min: 0, max: 600", "{type: int, min: 0, max: 60")
    app = load_app(spec)
    (warning,) = app.warnings
    assert "reference rows break the input contract" in warning
    assert "tenure_months must be <= 60" in warning
    assert app.reference is not None and app.reference.height < 5_000


def test_missing_reference_file(churn_app: Path) -> None:
    (churn_app / "reference.parquet").unlink()
    (message,) = issues_of(churn_app / "doorstep.yaml")
    assert "reference: reference file" in message and "does not exist" in message


def test_a_renamed_input_is_reported_with_the_rule_that_names_it(churn_app: Path) -> None:
    spec = churn_app / "doorstep.yaml"
    edit(spec, "    tenure_months:  ", "    tenure:  ")  # the model and the rule say tenure_months
    messages = issues_of(spec)
    text = "\n".join(messages)
    assert "model.path: the model uses 'tenure_months' but the spec has no such input" in text
    (rule,) = [m for m in messages if "policy.rules[2].when" in m]
    assert "the model uses 'tenure_months', but no input declares it" in rule
    assert "did you mean 'tenure'" not in rule  # the rule is right; the input is missing
    assert [m.split(" ", 1)[0].rsplit(":", 1)[1] for m in messages] == sorted(
        (m.split(" ", 1)[0].rsplit(":", 1)[1] for m in messages), key=int
    )  # one list, in line order


def test_the_quickstart_example_reports_both_mistakes(churn_app: Path) -> None:
    from tests.paths import ROOT

    page = (ROOT / "docs" / "quickstart.md").read_text()
    block = re.search(r"```\nerror \(spec_invalid\): (.*?)```", page, re.S)
    assert block is not None
    shown = [line.split(" ", 3)[3] for line in block.group(1).splitlines()[1:]]
    documented = [(m.split(":", 1)[0], m.split(": ", 1)[1].rstrip(" …")) for m in shown]
    spec = churn_app / "doorstep.yaml"
    edit(spec, "  task: binary", "  tsak: binary")
    edit(spec, 'when: "score >= 0.60"', 'when: "scroe >= 0.60"')
    messages = issues_of(spec)
    assert len(messages) == len(documented) == 2, messages
    for message, (key, start) in zip(messages, documented, strict=True):
        assert f" {key}: {start}" in message, (message, key, start)


def test_a_category_value_the_model_never_saw_is_a_warning_and_scored_as_missing(
    churn_app: Path,
) -> None:
    import polars as pl

    spec = churn_app / "doorstep.yaml"
    edit(spec, "values: [basic, plus, premium]", "values: [basic, plus, premium, gold]")
    app = load_app(spec)  # docs/models.md: accepted, scored as missing, and said
    (warning,) = app.warnings
    assert warning.startswith(
        f"{spec}:9 model.path: 'plan': the model never saw the value(s) 'gold'"
    )
    row = pl.read_parquet(churn_app / "customers.parquet").head(1)
    fields = list(app.spec.feature_fields)
    gold = app.model.predict(row.with_columns(pl.lit("gold").alias("plan")).select(fields))
    missing = app.model.predict(
        row.with_columns(pl.lit(None, pl.String).alias("plan")).select(fields)
    )
    assert gold.tolist() == missing.tolist()


def test_with_model_decides_with_another_model_checked_as_at_load(
    churn_loaded_app: LoadedApp, tmp_path: Path
) -> None:
    from doorstep.examples.churn import generate_customers, train_model

    retrained = tmp_path / "model-v2.lgb.txt"
    train_model(generate_customers(3_000, seed=11), trees=25, seed=11).save_model(str(retrained))  # type: ignore[attr-defined]
    app = with_model(churn_loaded_app, retrained, version="2")
    assert app.model_version == "2" and churn_loaded_app.model_version != "2"
    assert app.model.metadata.content_hash != churn_loaded_app.model.metadata.content_hash
    assert app.additivity_error is not None and app.additivity_error < 1e-6
    assert app.reference is churn_loaded_app.reference and app.doc is churn_loaded_app.doc
    rows = churn_loaded_app.reference
    assert rows is not None
    before = churn_loaded_app.model.predict(rows.head(50))
    after = app.model.predict(rows.head(50))
    assert before.shape == after.shape and (before != after).any()


def test_with_model_refuses_a_model_that_does_not_fit_the_contract(
    churn_loaded_app: LoadedApp, tmp_path: Path
) -> None:
    import lightgbm as lgb
    import numpy as np

    rng = np.random.default_rng(3)
    other = lgb.train(
        {"objective": "binary", "verbosity": -1, "num_threads": 1},
        lgb.Dataset(rng.normal(size=(300, 2)), label=rng.integers(0, 2, 300)),
        num_boost_round=3,
    )
    path = tmp_path / "other.lgb.txt"
    other.save_model(str(path))
    with pytest.raises(SpecError) as info:
        with_model(churn_loaded_app, path, version="9")
    text = " ".join(str(issue) for issue in info.value.issues)
    assert "model.path" in text and "Column_0" in text


@pytest.mark.parametrize(
    ("method", "expected"),
    [("auto", "linear-treeshap"), ("linear", "linear-treeshap"), ("native", "lightgbm-native")],
)
def test_explain_method_chooses_the_tree_explainer(
    churn_app: Path, method: str, expected: str
) -> None:
    spec = churn_app / "doorstep.yaml"
    edit(spec, "explain:\n", f"explain:\n  method: {method}\n")
    app = load_app(spec)
    assert app.reference is not None
    assert app.model.contributions(app.reference.head(3)).method == expected
    assert app.additivity_error is not None and app.additivity_error < 1e-9
