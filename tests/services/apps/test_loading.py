"""Loading an app: spec, reference and model checked against each other, errors located."""

from __future__ import annotations

from pathlib import Path

import pytest

from doorstep.errors import SpecError
from doorstep.services.apps.loading import load_app

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
    assert app.reference is not None and app.reference.height == 4_000  # all the rows written
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
    edit(spec, "values: [basic, plus, premium]", "values: [basic, plus, premium, gold]")
    *messages, reference = issues_of(spec)  # in line order; the reference lacks 'tenure' too
    assert reference.startswith(f"{spec}:30 reference:") and "'tenure'" in reference
    assert len(messages) >= 3
    assert all(m.startswith(f"{spec}:9 model.path:") for m in messages), messages
    text = "\n".join(messages)
    assert "tenure_months" in text and "tenure" in text
    assert "region" in text
    assert "gold" in text


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
