"""``show_in_queue`` and ``actionable`` on input fields: loaded, and refused where they make no
sense, with the file, line and key of the field."""

from __future__ import annotations

from tests.core.test_spec import ENV, VALID, errors_of

from doorstep.core.spec.loader import parse_spec


def test_the_flags_load_and_default_to_off_and_actionable() -> None:
    text = VALID.replace(
        "{type: int, min: 0, max: 600,", "{type: int, min: 0, max: 600, actionable: false,"
    ).replace(
        "{type: float, min: 0, unit: EUR}", "{type: float, min: 0, unit: EUR, show_in_queue: true}"
    )
    spec = parse_spec(text, file="app.yaml", env=ENV).spec
    fields = spec.inputs.fields
    assert fields["monthly_spend"].show_in_queue and not fields["plan"].show_in_queue
    assert not fields["tenure_months"].actionable and fields["plan"].actionable


def test_show_in_queue_on_personal_data_is_refused_at_its_line() -> None:
    text = VALID.replace("pii: true,", "pii: true, show_in_queue: true,")
    (message,) = errors_of(text)
    assert message.startswith("app.yaml:14 inputs.fields.email:")
    assert "personal data" in message


def test_actionable_false_on_a_field_the_model_does_not_see_is_refused() -> None:
    text = VALID.replace("feature: false}", "feature: false, actionable: false}")
    (message,) = errors_of(text)
    assert message.startswith("app.yaml:14 inputs.fields.email:")
    assert "feature: false" in message


def test_more_than_three_queue_fields_are_refused_naming_them() -> None:
    text = VALID
    for shape in ("{type: int,", "{type: category,", "{type: float,"):
        text = text.replace(shape, f"{shape} show_in_queue: true,")
    text = text.replace("    email:", "    region: {type: string, show_in_queue: true}\n    email:")
    (message,) = errors_of(text)
    assert message.startswith("app.yaml:8 inputs:")
    assert "at most 3" in message and "region" in message


def test_show_in_queue_on_a_sensitive_attribute_is_refused_at_its_line() -> None:
    text = VALID.replace(
        "{type: category,", "{type: category, sensitive: true, show_in_queue: true,"
    )
    (message,) = errors_of(text)
    assert "inputs.fields.plan:" in message and "sensitive attribute" in message
