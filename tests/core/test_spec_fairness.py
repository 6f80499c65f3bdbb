"""The spec's sensitive attributes, bands and card text: they load, and broken ones are named
by file, line and key."""

from __future__ import annotations

import pytest

from doorstep.core.spec.loader import parse_spec
from doorstep.errors import SpecError

BASE = """\
app:
  name: churn
  owner: maria@example.com
  description: Retention offers for customers likely to cancel
model: {path: model.lgb.txt}
inputs:
  id: customer_id
  fields:
    tenure_months: {type: int, min: 0}
    region: {type: category, values: [north, south], sensitive: true, feature: false}
    age: {type: int, min: 18, sensitive: true, feature: false}
    plan: {type: category, values: [basic, plus]}
monitoring:
  fairness:
    min_group: 50
    bands:
      age_band: {field: age, edges: [25, 35, 50, 65]}
card:
  intended_use: Choose which customers get a retention offer.
  limitations: Not checked on customers under 18.
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_spec(text, file="app.yaml", env={})
    return [str(issue) for issue in info.value.issues]


def test_sensitive_fields_bands_and_card_load() -> None:
    spec = parse_spec(BASE, file="app.yaml", env={}).spec
    assert list(spec.sensitive_fields) == ["region", "age"]
    assert spec.inputs.fields["region"].masked and not spec.inputs.fields["plan"].masked
    assert list(spec.feature_fields) == ["tenure_months", "plan"]
    assert spec.monitoring.fairness.min_group == 50
    assert spec.monitoring.fairness.bands["age_band"].edges == [25, 35, 50, 65]
    assert spec.card.intended_use.startswith("Choose")
    assert spec.app.description.startswith("Retention")


def test_defaults() -> None:
    text = BASE.split("monitoring:")[0]
    spec = parse_spec(text, file="app.yaml", env={}).spec
    assert spec.monitoring.fairness.min_group == 30
    assert spec.monitoring.fairness.bands == {}
    assert spec.card.intended_use == ""


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("{field: agee, edges: [25]}", "app.yaml:17 monitoring.fairness.bands.age_band.field: "
         "unknown input field 'agee' (did you mean 'age'?)"),
        ("{field: region, edges: [25]}", "bands apply to int and float fields"),
        ("{field: tenure_months, edges: [25]}", "add 'sensitive: true' to inputs.fields."
         "tenure_months"),
        ("{field: age, edges: [35, 25]}", "'edges' must increase strictly"),
        ("{field: age, edges: []}", "monitoring.fairness.bands.age_band.edges"),
    ],
)  # fmt: skip
def test_broken_bands_are_located(change: str, expected: str) -> None:
    text = BASE.replace("{field: age, edges: [25, 35, 50, 65]}", change)
    found = errors_of(text)
    assert len(found) == 1 and expected in found[0], found


def test_a_band_named_like_a_field_is_refused() -> None:
    found = errors_of(BASE.replace("age_band:", "plan:"))
    assert any("'plan' is already an input field" in e for e in found), found


def test_unknown_card_key_is_suggested() -> None:
    found = errors_of(BASE.replace("limitations:", "limitation:"))
    assert any("card.limitation" in e and "limitations" in e for e in found), found
