"""The monitoring report's JSON is a contract (``GET /v1/apps/{app}/monitoring``,
``doorstep monitor --json``): for stores built the same way every time (fixed decision ids, a
fixed ``now``), the report equals the golden file recorded in ``golden/``: the same keys in the
same order, the same types, the same values (floats to 1e-9, for other machines' rounding).

Cases: a binary app with outcomes, a control group and judged overrides (per day and per hour;
and with quality thresholds, its windows judged ok, warn, alert and insufficient_data);
the churn example with outcomes, overrides and drift (attribution included, and with a profile
that carries no explainer); a regression app; a multiclass app without and with a positive
class; an empty app without and with drift.

After a deliberate change of the report's JSON, record the files again with
``DOORSTEP_UPDATE_GOLDEN=1 pytest tests/services/monitor/test_report_json.py`` and review the
diff: it is the change every API client sees.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import pickle
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.services.monitor import test_report
from tests.services.monitor.test_report import NOW, SPEC, START, simulate, spec
from tests.web.pages import test_report_browser
from tests.web.pages.test_report_browser import decide_and_observe

from doorstep.core.stats.drift import ReferenceProfile
from doorstep.services.apps.loading import load_app
from doorstep.services.monitor.drift import drift_thresholds, reference_profile
from doorstep.services.monitor.report import monitoring_report
from doorstep.services.outcomes.ingest import record_outcomes
from doorstep.store import RecordRequest, Store, open_store
from doorstep.types import Decision, MonitoringReport

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("DOORSTEP_UPDATE_GOLDEN") == "1"
DAY = timedelta(days=1)
REGRESSION = (
    SPEC.replace("task: binary, positive_class: 1", "task: regression")
    .replace("score >= 0.5", "score >= 100")
    .replace("field: churned", "field: spend, goal: increase")
)
JUDGED = SPEC + (
    "  alerts:\n"
    "    connectors: [ops]\n"
    "    quality: {auc: {warn: 0.7, alert: 0.6}, brier: {alert: 0.3},"
    " override_rate: {warn: 0.5, alert: 0.7}}\n"
    "connectors:\n"
    "  ops: {type: file, path: alerts.jsonl}\n"
)
"""The binary app with quality thresholds: its windows are ok, warn, alert and too small."""
MULTICLASS = (
    SPEC.replace("task: binary, positive_class: 1", "task: multiclass")
    .replace('"score >= 0.5"', "\"predicted_class = 'gold'\"")
    .replace("field: churned", "field: tier")
)


def fixed_ids() -> Callable[[], str]:
    """UUIDv7-shaped ids from a counter: the same ids, so the same sample hashes, every run."""
    counter = itertools.count(1)

    def next_id() -> str:
        value = 1_735_689_600_000 << 80 | 0x7 << 76 | 0b10 << 62 | next(counter)
        h = f"{value:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    return next_id


@pytest.fixture
def new_id(monkeypatch: pytest.MonkeyPatch) -> Callable[[], str]:
    made = fixed_ids()
    for module in (test_report, test_report_browser):
        monkeypatch.setattr(module, "new_id", made)
    return made


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'report.db'}") as store:
        yield store


def decision(
    new_id: Callable[[], str], number: int, score: float, action: str, **changes: Any
) -> Decision:
    fields: dict[str, Any] = {
        "id": new_id(),
        "app": "churn",
        "entity_id": f"E-{number}",
        "model_version": "v1",
        "model_hash": "ab" * 32,
        "inputs": {"tenure_months": number % 60},
        "score": score,
        "action": action,
        "rule": None if action == "none" else "rule 1",
        "review": False,
        "control": False,
        "status": "decided",
        "reasons": None,
        "reasons_text": None,
        "created_at": START + timedelta(minutes=number),
    }
    fields.update(changes)
    return Decision(**fields)


def record_overrides(store: Store, new_id: Callable[[], str]) -> None:
    """Six reviewed decisions in the first six hours: four overrides to ``none`` (three right),
    one approval, one pending review."""
    cases = [
        ("overridden", "none", 0), ("overridden", "none", 0), ("overridden", "none", 0),
        ("overridden", "none", 1), ("approved", "retention_offer", 1),
        ("pending_review", None, 0),
    ]  # fmt: skip
    for i, (status, final, churned) in enumerate(cases):
        row = decision(
            new_id,
            100_000 + i,
            0.55,
            "retention_offer",
            review=True,
            status=status,
            final_action=final,
            created_at=START + timedelta(hours=i),
        )
        store.record([RecordRequest([row])], actor="t")
        if status != "pending_review":
            outcome = {"decision_id": row.id, "churned": churned, "observed_at": NOW.isoformat()}
            record_outcomes(spec(), store, [outcome], actor="t", now=NOW)


def binary_reports(store: Store, new_id: Callable[[], str]) -> dict[str, MonitoringReport]:
    simulate(store, 600, seed=7)
    record_overrides(store, new_id)
    unmatched = {"customer_id": "C-404", "churned": 1, "observed_at": (START + 5 * DAY).isoformat()}
    record_outcomes(spec(), store, [unmatched], actor="t", now=NOW)
    relabelled = spec(SPEC.replace("field: churned", "field: churned, positive: 1, negative: 2"))
    until = START + 10 * DAY
    return {
        "binary": monitoring_report(spec(), store, since=START, until=until, now=NOW),
        "binary_hourly": monitoring_report(
            spec(), store, window="hour", since=START, until=START + timedelta(hours=8), now=NOW
        ),
        "binary_relabelled": monitoring_report(
            relabelled, store, since=START, until=until, now=NOW
        ),
        "binary_judged": monitoring_report(spec(JUDGED), store, since=START, until=until, now=NOW),
    }


def regression_reports(store: Store, new_id: Callable[[], str]) -> dict[str, MonitoringReport]:
    rng = np.random.default_rng(1)
    predictions = rng.normal(100, 20, 400)
    spend = predictions + rng.normal(0, 10, 400)
    rows = [
        decision(new_id, i, float(p), "retention_offer" if p >= 100 else "none")
        for i, p in enumerate(predictions)
    ]
    store.record([RecordRequest(rows)], actor="t")
    body = [
        {"entity_id": f"E-{i}", "spend": float(spend[i]), "observed_at": "2025-03-02T00:00:00Z"}
        for i in range(len(rows))
    ]
    body.append({"entity_id": "E-1", "spend": "lots", "observed_at": "2025-03-02T01:00:00Z"})
    record_outcomes(spec(REGRESSION), store, body, actor="t", now=NOW)
    report = monitoring_report(spec(REGRESSION), store, since=START, until=START + DAY, now=NOW)
    return {"regression": report}


def multiclass_reports(store: Store, new_id: Callable[[], str]) -> dict[str, MonitoringReport]:
    rows = [
        decision(
            new_id,
            i,
            0.7,
            "retention_offer" if predicted == "gold" else "none",
            predicted_class=predicted,
            created_at=START + timedelta(hours=i),
        )
        for i, predicted in enumerate(["gold", "gold", "silver", "bronze", "gold", "silver"])
    ]
    store.record([RecordRequest(rows)], actor="t")
    actuals = ["gold", "silver", "silver", "gold", "gold", "bronze"]
    body = [
        {"decision_id": row.id, "tier": actual, "observed_at": NOW.isoformat()}
        for row, actual in zip(rows, actuals, strict=True)
    ]
    record_outcomes(spec(MULTICLASS), store, body, actor="t", now=NOW)
    named = spec(MULTICLASS.replace("field: tier", "field: tier, positive: gold"))
    until = START + DAY
    return {
        "multiclass": monitoring_report(spec(MULTICLASS), store, since=START, until=until, now=NOW),
        "multiclass_positive": monitoring_report(named, store, since=START, until=until, now=NOW),
    }


def empty_reports(store: Store, new_id: Callable[[], str]) -> dict[str, MonitoringReport]:
    return {"empty": monitoring_report(spec(), store, now=NOW)}


def churn_reports(store: Store, churn_app: Path) -> dict[str, MonitoringReport]:
    """The churn example: six days with drift from the fourth, outcomes, overrides, a control
    group and an outcome that matches nothing; and the same app with no decisions."""
    from tests.services.monitor.test_drift import DAYS

    app = load_app(churn_app / "doorstep.yaml")
    profile = reference_profile(app)
    assert profile is not None
    thresholds = drift_thresholds(app.spec)
    now = test_report_browser.NOW
    begin, end = test_report_browser.START, test_report_browser.START + DAYS * DAY
    empty = monitoring_report(
        app.spec, store, since=begin, until=end, now=now, profile=profile, thresholds=thresholds
    )
    decide_and_observe(app, store)
    unmatched = {"customer_id": "C-404", "churned": 1, "observed_at": (begin + 2 * DAY).isoformat()}
    record_outcomes(app.spec, store, [unmatched], actor="t", now=now)
    found = monitoring_report(
        app.spec, store, since=begin, until=end, now=now, profile=profile, thresholds=thresholds
    )
    plain = ReferenceProfile(
        profile.features,
        profile.score,
        profile.attributions,
        profile.contribution_columns,
        profile.psi_bins,
    )
    without = monitoring_report(
        app.spec, store, since=begin, until=end, now=now, profile=plain, thresholds=thresholds
    )
    return {"empty_drift": empty, "binary_drift": found, "binary_drift_plain_profile": without}


def as_json(report: MonitoringReport) -> Any:
    """The report as a client reads it (no NaN or infinity may reach the JSON)."""
    return json.loads(json.dumps(report.to_dict(), allow_nan=False))


def assert_same(found: Any, expected: Any, path: str = "report") -> None:
    assert type(found) is type(expected), f"{path}: {found!r} is not like {expected!r}"
    if isinstance(expected, dict):
        assert list(found) == list(expected), f"{path}: keys {list(found)} != {list(expected)}"
        for key, value in expected.items():
            assert_same(found[key], value, f"{path}.{key}")
    elif isinstance(expected, list):
        assert len(found) == len(expected), f"{path}: {len(found)} items != {len(expected)}"
        for index, (one, other) in enumerate(zip(found, expected, strict=True)):
            assert_same(one, other, f"{path}[{index}]")
    elif isinstance(expected, float):
        assert math.isclose(found, expected, rel_tol=1e-9, abs_tol=1e-12), (path, found, expected)
    else:
        assert found == expected, (path, found, expected)


def check(reports: dict[str, MonitoringReport]) -> None:
    for name, report in reports.items():
        path = GOLDEN / f"report_{name}.json"
        found = as_json(report)
        # serve's monitor runs in a child process: its report crosses back pickled
        assert pickle.loads(pickle.dumps(report)).to_dict() == report.to_dict()
        if UPDATE:
            GOLDEN.mkdir(exist_ok=True)
            path.write_text(json.dumps(found, indent=1) + "\n", encoding="utf-8")
            continue
        assert path.is_file(), f"{path} is missing: record it with DOORSTEP_UPDATE_GOLDEN=1"
        assert_same(found, json.loads(path.read_text(encoding="utf-8")), name)


@pytest.mark.parametrize(
    "build", [binary_reports, regression_reports, multiclass_reports, empty_reports]
)
def test_the_report_json_equals_its_golden_file(
    build: Callable[[Store, Callable[[], str]], dict[str, MonitoringReport]],
    sqlite: Store,
    new_id: Callable[[], str],
) -> None:
    check(build(sqlite, new_id))


@pytest.mark.slow
def test_the_drift_report_json_equals_its_golden_file(
    churn_app: Path, sqlite: Store, new_id: Callable[[], str]
) -> None:
    check(churn_reports(sqlite, churn_app))
