"""Templates are checked with the spec: an unknown name or a syntax error fails `validate` and
start-up at the template's line and key, never at the first delivery."""

from __future__ import annotations

from importlib.resources import files

import pytest

from doorstep.core.spec.loader import parse_spec
from doorstep.errors import SpecError
from doorstep.services.deliver.template_check import check_templates

EXAMPLE = files("doorstep.examples.churn").joinpath("doorstep.yaml").read_text()


def issues_of(text: str) -> list[tuple[int | None, str, str]]:
    doc = parse_spec(text, file="app.yaml", env={})
    with pytest.raises(SpecError) as caught:
        check_templates(doc)
    return [(i.line, i.key, i.message) for i in caught.value.issues]


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_example_app_templates_render() -> None:
    check_templates(parse_spec(EXAMPLE, file="app.yaml", env={}))


def test_unknown_names_are_located_with_a_suggestion() -> None:
    text = EXAMPLE.replace(
        'why: "{{ reasons_text }}"', 'why: "{{ reasons_txt }}", tier: "plan {{ inputs.plann }}"'
    )
    found = issues_of(text)
    line = line_of(text, "reasons_txt")
    assert [(n, key) for n, key, _ in found] == [
        (line, "actions.retention_offer.payload.tier"),
        (line, "actions.retention_offer.payload.why"),
    ]
    assert "'plann'" in found[0][2] and "did you mean 'plan'?" in found[0][2]
    assert "did you mean 'reasons_text'?" in found[1][2]


def test_connector_templates_and_syntax_errors_are_checked() -> None:
    headers = '    headers: {X-Owner: "{{ owner }}", X-Tier: "{{ 1 + }}"}'
    text = EXAMPLE.replace(
        "    allow_networks: [127.0.0.1/32]", "    allow_networks: [127.0.0.1/32]\n" + headers
    )
    found = issues_of(text)
    line = line_of(text, "X-Owner")
    assert [(n, key) for n, key, _ in found] == [
        (line, "connectors.crm.headers.X-Owner"),
        (line, "connectors.crm.headers.X-Tier"),
    ]
    assert "'owner'" in found[0][2]
    assert found[1][2].startswith("the template does not render")


OPTIONAL = """
app: {name: churn, owner: maria@example.com}
model: {path: model.txt}
inputs:
  id: customer_id
  fields:
    tenure_months: {type: int}
    email: {type: string, required: false, feature: false}
actions:
  retention_offer:
    payload: {to: "{{ inputs.email }}", shout: "{{ inputs.email.upper() }}"}
"""


def test_templates_are_rendered_with_optional_inputs_absent_too() -> None:
    ((line, key, message),) = issues_of(OPTIONAL)
    assert (line, key) == (line_of(OPTIONAL, "shout"), "actions.retention_offer.payload.shout")
    assert "optional input 'email' is absent" in message
    assert "{{ inputs.email or '' }}" in message
    guarded = OPTIONAL.replace("inputs.email.upper()", "(inputs.email or '').upper()")
    check_templates(parse_spec(guarded, file="app.yaml", env={}))  # and {{ inputs.email }} alone
