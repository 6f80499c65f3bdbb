"""Payload templates: sandboxed Jinja2, one-expression strings keep their JSON type, and every
failure is a TemplateRenderError naming the template."""

from __future__ import annotations

import pytest

from doorstep.connectors.templates import TemplateRenderError, render, render_payload

CONTEXT = {"score": 0.82, "entity_id": "C-7", "inputs": {"plan": "basic", "tickets": 0}}


def test_one_expression_keeps_its_type_and_text_renders() -> None:
    payload = {
        "score": "{{ score }}",
        "who": "customer {{ entity_id }}",
        "inputs": "{{ inputs }}",
        "list": ["{{ inputs.plan }}", 3],
        "plain": "no template",
    }
    assert render_payload(payload, CONTEXT) == {
        "score": 0.82,
        "who": "customer C-7",
        "inputs": {"plan": "basic", "tickets": 0},
        "list": ["basic", 3],
        "plain": "no template",
    }


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ nope }}", "payload.x: {{ nope }} is undefined"),
        ("id {{ nope }}", "payload.x: 'nope' is undefined"),
        ("{{ score.__class__.__mro__ }}", "payload.x"),  # the sandbox hides Python internals
        ("{{ 1 // inputs.tickets }}", "payload.x: ZeroDivisionError"),
        ("n {{ 1 // inputs.tickets }}", "payload.x: ZeroDivisionError"),
        ("{{ 1 + }}", "payload.x"),
    ],
)
def test_failures_name_the_template(template: str, message: str) -> None:
    with pytest.raises(TemplateRenderError, match=message.replace("{", r"\{").replace("}", r"\}")):
        render_payload({"x": template}, CONTEXT)


def test_strings_without_markup_are_not_parsed() -> None:
    assert render("50% off {not a template}", CONTEXT) == "50% off {not a template}"


def test_a_bare_name_gives_the_context_value_itself_and_constants_stay_constants() -> None:
    context = {**CONTEXT, "true": "shadowed", "none": "shadowed"}
    rendered = render_payload(
        {"inputs": "{{inputs}}", "flag": "{{ true }}", "nothing": " {{ none }} "}, context
    )
    assert rendered == {"inputs": CONTEXT["inputs"], "flag": True, "nothing": None}
    assert rendered["inputs"] is CONTEXT["inputs"]  # as Jinja returns it: the same object
