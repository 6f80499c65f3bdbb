"""The spec parser: valid specs load; every broken spec names file, line, key and a fix."""

from __future__ import annotations

import json

import pytest

from doorstep.core.spec.loader import format_key, parse_spec
from doorstep.core.spec.models import Spec
from doorstep.errors import SpecError

VALID = """\
app:
  name: churn
  owner: maria@example.com
model:
  path: model.lgb.txt
  task: binary
  positive_class: 1
inputs:
  id: customer_id
  fields:
    tenure_months: {type: int, min: 0, max: 600, label: "Months as a customer"}
    plan: {type: category, values: [basic, plus, premium]}
    monthly_spend: {type: float, min: 0, unit: EUR}
    email: {type: string, pii: true, required: false, feature: false}
reference: reference.parquet
explain:
  top: 2
  for: [acted]
policy:
  control_group: 0.1
  rules:
    - when: "score >= 0.8 AND plan = 'premium'"
      action: call_customer
    - when: "score >= 0.5"
      action: retention_offer
      review: true
  default: none
actions:
  retention_offer:
    connector: crm
    value: 240
    cost: 30
  call_customer:
    connector: crm
connectors:
  crm:
    type: webhook
    url: "${CRM_URL}"
    secret: "${CRM_SECRET:-}"
"""

ENV = {"CRM_URL": "https://crm.example.com/hook"}


def errors_of(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_spec(text, file="app.yaml", env=ENV if env is None else env)
    return [str(issue) for issue in info.value.issues]


def test_valid_spec_loads_with_defaults_and_env() -> None:
    doc = parse_spec(VALID, file="app.yaml", env=ENV)
    spec = doc.spec
    assert spec.app.name == "churn"
    assert list(spec.inputs.fields) == ["tenure_months", "plan", "monthly_spend", "email"]
    assert list(spec.feature_fields) == ["tenure_months", "plan", "monthly_spend"]
    assert spec.reference is not None and spec.reference.path == "reference.parquet"
    assert spec.explain.for_ == ["acted"]
    assert spec.explain.method == "auto"
    assert spec.policy.rules[1].review is True
    crm = spec.connectors["crm"]
    assert crm.type == "webhook" and crm.url == "https://crm.example.com/hook"
    assert crm.secret == ""
    assert ("connectors", "crm", "url") in doc.secret_keys
    assert doc.lines[("policy", "rules", 1, "when")] == 24


def test_unknown_key_is_located_and_suggested() -> None:
    text = VALID.replace("  task: binary", "  tsak: binary")
    assert errors_of(text) == [
        "app.yaml:6 model.tsak: unknown key 'tsak' (did you mean 'task'?); "
        "allowed keys: kind, path, positive_class, task, version"
    ]


def test_unknown_column_in_rule_names_line_and_suggests() -> None:
    text = VALID.replace("score >= 0.5", "scroe >= 0.5")
    (message,) = errors_of(text)
    assert message.startswith("app.yaml:24 policy.rules[1].when: unknown column 'scroe'")
    assert "did you mean 'score'?" in message
    assert "at character 1" in message


def test_wrong_literal_suggests_nearest() -> None:
    text = VALID.replace("task: binary", "task: binari")
    (message,) = errors_of(text)
    assert message.startswith("app.yaml:6 model.task: ")
    assert "got 'binari' (did you mean 'binary'?)" in message


def test_wrong_type_for_field_rule() -> None:
    text = VALID.replace("max: 600", "max: lots")
    (message,) = errors_of(text)
    assert message.startswith("app.yaml:11 inputs.fields.tenure_months.max:")
    assert "'lots'" in message


def test_field_type_typo_and_category_without_values() -> None:
    text = VALID.replace("{type: float, min: 0, unit: EUR}", "{type: flaot}").replace(
        "{type: category, values: [basic, plus, premium]}", "{type: category}"
    )
    messages = errors_of(text)
    assert any(
        m.startswith("app.yaml:12 inputs.fields.plan:") and "needs 'values'" in m for m in messages
    )
    assert any(
        m.startswith("app.yaml:13 inputs.fields.monthly_spend.type:") and "'float'" in m
        for m in messages
    )


def test_missing_required_key_points_at_parent() -> None:
    text = VALID.replace("  owner: maria@example.com\n", "")
    assert errors_of(text) == ["app.yaml:1 app.owner: required key 'owner' is missing"]


def test_missing_environment_variable_is_named() -> None:
    (message,) = errors_of(VALID, env={})
    assert message.startswith("app.yaml:38 connectors.crm.url: environment variable CRM_URL")


def test_escaped_dollar_is_kept_literally() -> None:
    text = VALID.replace('"${CRM_URL}"', '"https://x.example.com/$${CRM_URL}"')
    doc = parse_spec(text, file="app.yaml", env={})
    assert doc.spec.connectors["crm"].url == "https://x.example.com/${CRM_URL}"  # type: ignore[union-attr]


def test_unknown_connector_type_and_reference() -> None:
    text = VALID.replace("type: webhook", "type: webhok").replace(
        "    connector: crm\n    value", "    connector: cmr\n    value"
    )
    messages = errors_of(text)
    assert any("connectors.crm.type" in m and "did you mean 'webhook'" in m for m in messages)


def test_action_referencing_unknown_connector() -> None:
    text = VALID.replace("    connector: crm\n    value", "    connector: cmr\n    value")
    (message,) = errors_of(text)
    assert message.startswith("app.yaml:30 actions.retention_offer.connector: unknown connector")
    assert "did you mean 'crm'?" in message


def test_rule_with_unknown_action_is_located() -> None:
    text = VALID.replace("action: retention_offer", "action: retention_ofer")
    (message,) = errors_of(text)
    assert "policy.rules[1]" in message and "did you mean 'retention_offer'?" in message


def test_not_yaml_and_not_a_mapping() -> None:
    assert errors_of("app: [unclosed\n")[0].startswith("app.yaml:")
    assert errors_of("- a\n- b\n") == ["app.yaml:1: a spec must be a mapping with keys app, model…"]


def test_several_problems_are_all_reported_in_line_order() -> None:
    text = VALID.replace("task: binary", "task: binari").replace("top: 2", "top: -1")
    messages = errors_of(text)
    assert len(messages) == 2
    assert messages[0].startswith("app.yaml:6") and messages[1].startswith("app.yaml:17")


def test_a_misspelt_key_does_not_hide_a_misspelt_column() -> None:
    # docs/quickstart.md's two mistakes: both reported, in line order
    text = VALID.replace("  task: binary", "  tsak: binary").replace("scroe", "x")
    text = text.replace("score >= 0.5", "scroe >= 0.5")
    messages = errors_of(text)
    assert [m.split(":", 2)[1] for m in messages] == ["6 model.tsak", "24 policy.rules[1].when"]
    assert "did you mean 'task'?" in messages[0] and "did you mean 'score'?" in messages[1]


def test_a_misspelt_required_key_is_one_problem_and_its_rule_is_still_checked() -> None:
    text = VALID.replace('    - when: "score >= 0.5"', '    - wen: "scroe >= 0.5"')
    messages = errors_of(text)
    assert len(messages) == 2, messages  # not also "required key 'when' is missing"
    text = "\n".join(messages)
    assert "policy.rules[1].wen: unknown key 'wen' (did you mean 'when'?)" in text
    assert "policy.rules[1].when: unknown column 'scroe'" in text  # checked as if fixed


def test_every_rules_problem_is_reported() -> None:
    text = VALID.replace("score >= 0.8", "scor >= 0.8").replace("score >= 0.5", "0.5 <=")
    text = text.replace("action: retention_offer", "action: retention_ofer")
    messages = errors_of(text)
    assert [m.split(" ", 2)[1] for m in messages] == [
        "policy.rules[0].when:",
        "policy.rules[1].when:",
        "policy.rules[1].action:",
    ]


@pytest.mark.parametrize(
    ("old", "new", "where", "hint"),
    [
        ("{type: int, min: 0,", "{type: int, mn: 0,", "inputs.fields.tenure_months.mn", "min"),
        ("{type: string, pii: true,", "{type: string, pi: true,", "inputs.fields.email.pi", "pii"),
        ("type: webhook\n", "type: webhook\n    secrte: x\n", "connectors.crm.secrte", "secret"),
        ("connector: crm\n    value", "conector: crm\n    value",
         "actions.retention_offer.conector", "connector"),
    ],
)  # fmt: skip
def test_unknown_keys_in_named_entries_get_a_suggestion(
    old: str, new: str, where: str, hint: str
) -> None:
    assert old in VALID
    messages = errors_of(VALID.replace(old, new, 1))
    found = [m for m in messages if f" {where}: unknown key" in m]
    assert found and f"(did you mean {hint!r}?)" in found[0], messages
    assert "allowed keys: " in found[0]


def test_a_url_whose_port_is_not_a_number_is_a_problem_of_the_spec() -> None:
    text = VALID + (
        "features:\n"
        "  customer_db: {type: sql, url: 'postgresql://ana:pw@db:54x2/crm', table: customers}\n"
    )
    text = text.replace('url: "${CRM_URL}"', 'url: "https://crm.example.com:80a/hook"')
    messages = errors_of(text)
    assert [m.split(" ", 2)[1] for m in messages] == [
        "connectors.crm.url:",
        "features.customer_db.url:",
    ]
    assert "the port of the URL is not a number ('80a')" in messages[0]
    assert "the port of the URL is not a number ('54x2')" in messages[1]
    hidden = errors_of(VALID, env={"CRM_URL": "https://ana:pw@crm.example.com:80a/hook"})
    assert hidden == [
        "app.yaml:38 connectors.crm.url: the port of the URL is not a number; write it as "
        "SCHEME://USER:PASSWORD@HOST:PORT/..., the port a number (or none, for the default), and "
        "special characters of the password %-encoded"
    ]  # from the environment: not quoted
    fine = "postgresql://ana:pw@[::1]:5432,db2:5433/crm"
    parse_spec(VALID.replace('"${CRM_URL}"', f'"{fine}"'), file="app.yaml", env={})


def test_explain_for_takes_one_value_alone() -> None:
    doc = parse_spec(VALID.replace("for: [acted]", "for: all"), file="app.yaml", env=ENV)
    assert doc.spec.explain.for_ == ["all"]
    (message,) = errors_of(VALID.replace("for: [acted]", "for: al"))
    assert message.startswith("app.yaml:18 explain.for:") and "(did you mean 'all'?)" in message


def test_format_key() -> None:
    assert format_key(("policy", "rules", 1, "when")) == "policy.rules[1].when"
    assert format_key(()) == ""


def test_json_schema_is_complete_for_editors() -> None:
    schema = Spec.model_json_schema(by_alias=True)
    assert set(schema["required"]) == {"app", "model", "inputs"}
    text = json.dumps(schema)
    assert '"for"' in text and "control_group" in text and "webhook" in text
    assert schema["$defs"]["RuleSpec"]["properties"]["when"]["description"].startswith("SQL")
    explain_for = schema["$defs"]["ExplainSpec"]["properties"]["for"]["anyOf"]
    assert [option["type"] for option in explain_for] == ["array", "string"]  # for: all too
