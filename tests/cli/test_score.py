"""``doorstep score`` on a model trained on a boolean column turned to text (pandas'
``astype(str)``: LightGBM stores the categories ``"False"`` and ``"True"``): a Parquet bool
column is decided, not rejected; and a run that rejects every record does not exit 0."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import polars as pl
import pytest
from typer.testing import CliRunner

from doorstep.cli.main import app
from doorstep.cli.score import EXIT_ALL_REJECTED

runner = CliRunner()
ROWS = 300
SPEC = """\
app: {name: renewals, owner: maria@example.com}
model: {path: model.txt, task: binary}
inputs:
  id: customer_id
  fields:
    spend: {type: float, min: 0}
    autopay: {type: category, values: ["False", "True"]}
"""


@pytest.fixture(scope="module")
def renewals(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An app whose LightGBM model was trained on ``autopay.astype(str)`` as a category."""
    root = tmp_path_factory.mktemp("renewals")
    rng = np.random.default_rng(3)
    autopay = rng.random(ROWS) < 0.5
    spend = rng.gamma(2.0, 30.0, ROWS)
    train = pd.DataFrame(
        {"spend": spend, "autopay": pd.Series(autopay).astype(str).astype("category")}
    )
    target = (autopay ^ (spend > 60)).astype(int)
    model = lgb.train(
        {"objective": "binary", "verbose": -1, "min_data_in_leaf": 5, "num_leaves": 4},
        lgb.Dataset(train, target),
        num_boost_round=5,
    )
    model.save_model(root / "model.txt")
    pl.DataFrame(
        {"entity_id": [f"C-{i}" for i in range(ROWS)], "expected": model.predict(train)}
    ).write_parquet(root / "expected.parquet")
    (root / "doorstep.yaml").write_text(SPEC)
    customers = pl.DataFrame(
        {"customer_id": [f"C-{i}" for i in range(ROWS)], "spend": spend, "autopay": autopay}
    )
    customers.write_parquet(root / "customers.parquet")
    customers.with_columns(pl.col("spend") * -1 - 1).write_parquet(root / "negative.parquet")
    return root


def score(root: Path, source: str, out: Path) -> tuple[int, str, str]:
    args = ["score", str(root / source), "--spec", str(root / "doorstep.yaml"), "--out", str(out)]
    result = runner.invoke(app, args)
    return result.exit_code, result.stdout, result.stderr


def test_a_parquet_bool_column_reaches_its_true_false_categories(
    renewals: Path, tmp_path: Path
) -> None:
    code, shown, _ = score(renewals, "customers.parquet", tmp_path / "out.parquet")
    assert code == 0, shown
    decisions = pl.read_parquet(tmp_path / "out.parquet")
    assert decisions.height == ROWS
    rejects = pl.read_csv(tmp_path / "out.rejects.csv")
    assert rejects.height == 0, rejects["message"].to_list()[:3]
    expected = pl.read_parquet(renewals / "expected.parquet")  # the model's own, on pandas
    scored = decisions.select("entity_id", "score").join(expected, on="entity_id")
    assert scored.height == ROWS
    assert np.allclose(scored["score"], scored["expected"], atol=1e-9)


def test_a_run_that_rejects_every_record_does_not_exit_0(renewals: Path, tmp_path: Path) -> None:
    code, shown, errors = score(renewals, "negative.parquet", tmp_path / "out.parquet")
    assert code == EXIT_ALL_REJECTED == 5, shown
    assert f"all {ROWS} records were rejected and none was decided" in errors
    assert "rejects" in errors
