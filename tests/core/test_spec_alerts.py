"""``monitoring.alerts`` in the spec: valid settings load; broken ones fail with file:line:key."""

from __future__ import annotations

import pytest

from doorstep.core.spec.loader import parse_spec
from doorstep.errors import SpecError

GOOD = """\
app: {name: churn, owner: o}
model: {path: m.txt}
inputs:
  id: customer_id
  fields:
    tenure_months: {type: int, min: 0}
connectors:
  ops_chat: {type: chat, url: "https://chat.example.com/hook"}
  ci: {type: webhook, url: "https://ci.example.com/retrain"}
  rows: {type: sql, url: "sqlite:///x.db", table: t}
monitoring:
  alerts:
    connectors: [ops_chat]
    level: warn
    quality:
      auc: {warn: 0.72, alert: 0.65}
      brier: {alert: 0.25}
      override_rate: {warn: 0.2, alert: 0.35}
      min_labelled: 200
    schedule: {cron: "15 * * * *", timezone: Europe/Berlin}
    retrain: {webhook: ci, after: 2, on: [drift]}
    canary: {margin: 0.02, min_labelled: 300}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_spec(text, file="app.yaml", env={})
    return [str(issue) for issue in caught.value.issues]


def test_alerts_load() -> None:
    alerts = parse_spec(GOOD, file="app.yaml", env={}).spec.monitoring.alerts
    assert alerts is not None and alerts.level == "warn" and alerts.drift
    assert set(alerts.quality.thresholds()) == {"auc", "brier", "override_rate"}
    assert alerts.retrain is not None and alerts.retrain.after == 2
    assert alerts.schedule is not None and alerts.schedule.cron == "15 * * * *"
    assert alerts.canary is not None and alerts.canary.margin == 0.02 and alerts.canary.stop


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("connectors: [ops_chat]", "connectors: [ops_chta]"),
            "app.yaml:13 monitoring.alerts.connectors[0]: unknown connector 'ops_chta' (did you "
            "mean 'ops_chat'?)",
        ),
        (
            ("connectors: [ops_chat]", "connectors: [rows]"),
            "app.yaml:13 monitoring.alerts.connectors[0]: connector 'rows' is of type 'sql'; "
            "alerts go to webhook, chat, email, file connectors",
        ),
        (
            ("{webhook: ci,", "{webhook: ops_chat,"),
            "app.yaml:21 monitoring.alerts.retrain.webhook: connector 'ops_chat' is of type "
            "'chat'; the retraining hook needs a 'webhook' connector (or use 'command')",
        ),
        (
            ("brier: {alert: 0.25}", "mae: {alert: 3}"),
            "app.yaml:17 monitoring.alerts.quality.mae: mae is not measured for binary models; "
            "use auc, precision, recall, brier, override_rate",
        ),
        (("auc: {warn: 0.72, alert: 0.65}", "auc: {warn: 0.6, alert: 0.65}"), "lower is worse"),
        (("brier: {alert: 0.25}", "brier: {warn: 0.3, alert: 0.25}"), "higher is worse"),
        (("brier: {alert: 0.25}", "brier: {}"), "give 'warn', 'alert', both, or 'from_reference"),
        (
            ("auc: {warn: 0.72, alert: 0.65}", "auc: {warn: 0.72, from_reference: true}"),
            "app.yaml:16 monitoring.alerts.quality.auc: give 'warn'/'alert' or "
            "'from_reference: true', not both",
        ),
        (("brier: {alert: 0.25}", "brier: {alert: 0.25, k: 2}"), "'k' applies to"),
        (("brier: {alert: 0.25}", "brier: {from_reference: true, k: 0}"), "k"),
        (
            ("override_rate: {warn: 0.2, alert: 0.35}", "override_rate: {from_reference: true}"),
            "app.yaml:18 monitoring.alerts.quality.override_rate.from_reference: override_rate "
            "cannot be derived from the reference; derivable: auc, precision, recall, brier, mae, "
            "rmse (binary and regression models), or give 'warn'/'alert'",
        ),
        (
            ("auc: {warn: 0.72, alert: 0.65}", "auc: {from_reference: true}"),
            "app.yaml:16 monitoring.alerts.quality.auc.from_reference: needs reference data: "
            "set 'reference.path' to a file with outcomes",
        ),
        (('"15 * * * *"', '"15 * * *"'), "expected 5 cron fields"),
        (("{webhook: ci,", "{webhook: ci, command: [x],"), "give either 'webhook'"),
        (("level: warn", "level: loud"), "app.yaml:14 monitoring.alerts.level"),
        (("level: warn", "level: warn\n    drift: false"), "retrain.on"),
        (
            ("margin: 0.02", "margin: 2"),
            "app.yaml:22 monitoring.alerts.canary.margin: the canary is judged on AUC, a share "
            "between 0 and 1: a margin of 2 can never be reached (0.02 is 2 points)",
        ),
        (("margin: 0.02", "margin: -0.1"), "app.yaml:22 monitoring.alerts.canary.margin"),
        (("min_labelled: 300", "min_labeled: 300"), "monitoring.alerts.canary.min_labeled"),
    ],
)
def test_broken_alerts_are_located(change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in GOOD
    found = problems(GOOD.replace(old, new))
    assert any(expected in issue for issue in found), found


def test_retrain_waiting_for_quality_without_thresholds() -> None:
    text = GOOD.replace("on: [drift]", "on: [quality]").replace(
        """    quality:
      auc: {warn: 0.72, alert: 0.65}
      brier: {alert: 0.25}
      override_rate: {warn: 0.2, alert: 0.35}
      min_labelled: 200
""",
        "",
    )
    assert any("monitoring.alerts.retrain.on" in p for p in problems(text))


ESTIMATED = "    estimated: {auc: {warn: 0.8, alert: 0.75}, f1: {alert: 0.3}}\n"


def test_estimated_thresholds_load_and_count_for_a_quality_hook() -> None:
    text = GOOD.replace("    schedule:", ESTIMATED + "    schedule:")
    alerts = parse_spec(text, file="app.yaml", env={}).spec.monitoring.alerts
    assert alerts is not None and set(alerts.estimated.thresholds()) == {"auc", "f1"}
    alone = text.replace("on: [drift]", "on: [quality]").replace(
        """    quality:
      auc: {warn: 0.72, alert: 0.65}
      brier: {alert: 0.25}
      override_rate: {warn: 0.2, alert: 0.35}
      min_labelled: 200
""",
        "",
    )
    parse_spec(alone, file="app.yaml", env={})  # estimated alerts alone feed the hook


def test_estimated_thresholds_are_checked() -> None:
    text = GOOD.replace("    schedule:", ESTIMATED + "    schedule:")
    found = problems(text.replace("warn: 0.8, alert: 0.75", "warn: 0.7, alert: 0.75"))
    assert any("auc: lower is worse" in issue for issue in found), found
    regression = text.replace("model: {path: m.txt}", "model: {path: m.txt, task: regression}")
    regression = regression.replace("      auc: {warn: 0.72, alert: 0.65}\n", "")
    regression = regression.replace("      brier: {alert: 0.25}\n", "")
    found = problems(regression)
    assert any(
        "monitoring.alerts.estimated.auc: auc is not estimated for regression models; "
        "use mae, rmse" in i
        for i in found
    ), found
    multiclass = text.replace("model: {path: m.txt}", "model: {path: m.txt, task: multiclass}")
    found = problems(multiclass.replace("      brier: {alert: 0.25}\n", ""))
    assert any(
        "estimated.auc: auc is not estimated for multiclass models; quality is estimated for "
        "binary and regression models only" in i
        for i in found
    ), found
    binary = text.replace("estimated: {auc:", "estimated: {mae: {alert: 3}, auc:", 1)
    assert any(
        "estimated.mae: mae is not estimated for binary models; use auc" in i
        for i in problems(binary)
    ), problems(binary)


MAIL = "  mail: {type: email, host: smtp.example.com, sender: doorstep@example.com}\n"


def test_an_email_connector_without_to_carries_alerts_to_the_owner() -> None:
    text = GOOD.replace("connectors:\n", "connectors:\n" + MAIL, 1)
    text = text.replace("connectors: [ops_chat]", "connectors: [ops_chat, mail]")
    owned = text.replace("owner: o}", "owner: maria@example.com}")
    assert parse_spec(owned, file="app.yaml", env={}).spec.connectors["mail"].type == "email"
    assert any(
        p.startswith("app.yaml:8 connectors.mail.to: alerts through e-mail connector 'mail' go "
                     "to app.owner by default, and 'o' is not an e-mail address")
        for p in problems(text)
    )  # fmt: skip
    acting = owned.replace("monitoring:\n", "actions:\n  offer: {connector: mail}\nmonitoring:\n")
    assert any(
        "connectors.mail.to: e-mail connector 'mail' delivers decisions (action 'offer')" in p
        for p in problems(acting)
    )


REFERENCE = GOOD.replace("model: {path: m.txt}", "model: {path: m.txt}\nreference: {path: r.csv}")


def test_thresholds_from_the_reference_load() -> None:
    text = REFERENCE.replace("auc: {warn: 0.72, alert: 0.65}", "auc: {from_reference: true}")
    text = text.replace("brier: {alert: 0.25}", "brier: {from_reference: true, k: 2.5}")
    alerts = parse_spec(text, file="app.yaml", env={}).spec.monitoring.alerts
    assert alerts is not None
    given = alerts.quality.thresholds()
    assert given["auc"].from_reference and given["auc"].k is None
    assert given["brier"].k == 2.5 and given["brier"].alert is None


def test_precision_from_the_reference_needs_a_score_threshold() -> None:
    text = REFERENCE.replace("auc: {warn: 0.72, alert: 0.65}", "precision: {from_reference: true}")
    found = problems(text)
    assert any(
        "app.yaml:17 monitoring.alerts.quality.precision.from_reference: precision on the "
        "reference needs 'monitoring.threshold'" in issue
        for issue in found
    ), found
    parse_spec(text.replace("monitoring:\n", "monitoring:\n  threshold: 0.5\n"), file="a", env={})


def test_estimated_thresholds_are_not_derived() -> None:
    text = REFERENCE.replace("    schedule:", "    estimated: {auc: {from_reference: true}}\n"
                             "    schedule:")  # fmt: skip
    found = problems(text)
    assert any(
        "monitoring.alerts.estimated.auc.from_reference: estimated quality takes" in issue
        for issue in found
    ), found
