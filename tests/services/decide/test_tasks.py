"""Multiclass and regression apps go through the same decision path as binary ones."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import polars as pl
import pytest

from doorstep.errors import SpecError
from doorstep.services.apps.loading import load_app
from doorstep.services.decide.batch import decide_batch

pytestmark = pytest.mark.slow

SPEC = """\
app: {{name: {name}, owner: ops@example.com}}
model: {{path: model.txt, task: {task}}}
inputs:
  id: machine_id
  fields:
    temperature: {{type: float, label: "Temperature", unit: "°C"}}
    vibration:   {{type: float, label: "Vibration"}}
    age_years:   {{type: int, min: 0, label: "Age", unit: years}}
reference: reference.parquet
explain: {{top: 2, for: [all], score_label: {label}{unit}}}
actions: {{replace: {{}}, inspect: {{}}, service_now: {{}}}}
policy:
  rules:
{rules}
"""


def machines(rows: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "machine_id": [f"M{i}" for i in range(rows)],
            "temperature": rng.normal(60, 10, rows),
            "vibration": rng.gamma(2, 1, rows),
            "age_years": rng.integers(0, 20, rows),
        }
    )


def write(directory: Path, task: str, rules: str, label: str, unit: str = "") -> Path:
    train = machines(2_000, seed=1)
    x = train.select("temperature", "vibration", "age_years").to_numpy()
    risk = 0.05 * (x[:, 0] - 60) + 0.8 * x[:, 1] + 0.1 * x[:, 2]
    y: npt.NDArray[np.intp] | npt.NDArray[np.float64]  # classes, or values
    if task == "multiclass":
        y = np.digitize(risk, np.quantile(risk, [0.5, 0.85]))
        params = {"objective": "multiclass", "num_class": 3}
    else:
        y = 100 + 40 * risk
        params = {"objective": "regression"}
    data = lgb.Dataset(
        x, label=y, feature_name=["temperature", "vibration", "age_years"], free_raw_data=False
    )
    booster = lgb.train({**params, "verbosity": -1, "num_threads": 1}, data, num_boost_round=20)
    booster.save_model(str(directory / "model.txt"))
    train.drop("machine_id").write_parquet(directory / "reference.parquet")
    spec = directory / "doorstep.yaml"
    spec.write_text(
        SPEC.format(
            name=task,
            task=task,
            rules=rules,
            label=label,
            unit=f", score_unit: {unit}" if unit else "",
        )
    )
    return spec


def test_multiclass_rules_use_class_scores_and_reasons_explain_the_predicted_class(
    tmp_path: Path,
) -> None:
    rules = (
        "    - {when: \"predicted_class = '2' AND score_2 >= 0.5\", action: replace}\n"
        '    - {when: "score_1 + score_2 >= 0.5", action: inspect, review: true}\n'
    )
    app = load_app(write(tmp_path, "multiclass", rules, "failure risk"))
    assert app.classes == ["0", "1", "2"]
    d = decide_batch(app, machines(400, seed=2)).decisions
    assert "predicted_class" in d.columns
    replace = d.filter(pl.col("action") == "replace")
    assert replace.height > 0 and set(replace["predicted_class"]) == {"2"}
    assert set(d.filter(pl.col("action") == "inspect")["status"]) == {"pending_review"}
    assert d["reasons"].null_count() == 0
    assert "failure risk by" in d["reasons_text"][0]


def test_multiclass_rule_with_unknown_class_is_located(tmp_path: Path) -> None:
    rules = '    - {when: "score_3 >= 0.5", action: replace}\n'
    with pytest.raises(SpecError) as info:
        load_app(write(tmp_path, "multiclass", rules, "risk"))
    (issue,) = info.value.issues
    assert issue.key == "policy.rules[0].when" and "score_3" in issue.message


def test_regression_reasons_speak_in_the_target_unit(tmp_path: Path) -> None:
    rules = '    - {when: "score >= 160", action: service_now}\n'
    app = load_app(write(tmp_path, "regression", rules, "expected repair cost", "EUR"))
    d = decide_batch(app, machines(300, seed=3)).decisions
    assert d.filter(pl.col("score") >= 160)["action"].unique().to_list() == ["service_now"]
    reason = d["reasons"][0][0]
    assert reason["sentence"].endswith(" EUR")
    assert "expected repair cost by" in reason["sentence"]
    assert reason["effect"] == pytest.approx(reason["contribution"])  # identity link: units
