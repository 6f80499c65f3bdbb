"""Estimated quality agrees with NannyML 0.13.1's CBPE on the same data.

NannyML needs pandas < 3, so it lives in its own environment (``bench/peers/setup.sh nannyml``
creates ``bench/.data/venvs/nannyml``); this test runs a script there on the same Parquet files
and compares window by window. Without that environment the test fails;
``DOORSTEP_TEST_NANNYML=skip`` skips it.

The data: an over-confident model (its scores sharper than the true chance of a positive), a
reference of 20,000 labelled rows, and four windows of 5,000 rows whose input drifts (no
concept drift: the estimate should follow the realised quality). Both fit isotonic regression
on the reference labels and estimate from the expected confusion matrix, so the **estimates**
agree to 0.002 (AUC: doorstep groups scores in 4,096 bins, NannyML rounds its cumulative sums
to five decimals) and precision, recall and F1 to 1e-6. The **intervals** are computed
differently: NannyML scales a standard error measured on the reference by 1/√n and shows ±3 of
them, the same for every window of a size; doorstep computes each window's own sampling
variance given its scores (Poisson-binomial, delta method, Hanley-McNeil for AUC) and shows
±1.96 of them. Conditioning on the window's scores leaves out the variation of which rows came,
so doorstep's precision, recall and F1 errors are smaller (0.4-1x NannyML's here), its AUC
error larger (1.3-1.5x: Hanley-McNeil is conservative). The test checks the ratio lies within
[1/3, 2] and that both intervals hold the realised values.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score
from tests.paths import ROOT

from doorstep.core.stats.calibration import fit_calibration
from doorstep.core.stats.estimate import EstimatedQuality
from doorstep.core.stats.intervals import z_value

NANNYML = ROOT / "bench" / ".data" / "venvs" / "nannyml" / "bin" / "python"

pytestmark = [
    pytest.mark.services,  # NannyML's own environment
    pytest.mark.skipif(
        os.environ.get("DOORSTEP_TEST_NANNYML") == "skip",
        reason="DOORSTEP_TEST_NANNYML=skip: the comparison with NannyML was turned off",
    ),
]

METRICS = {"roc_auc": "auc", "precision": "precision", "recall": "recall", "f1": "f1"}
WINDOW = 5_000
SHIFTS = (0.0, 0.0, 0.3, 0.6)
"""The input's mean in each window (the reference's is 0)."""

SCRIPT = """
import json, sys
import pandas as pd
import nannyml as nml

reference = pd.read_parquet(sys.argv[1])
analysis = pd.read_parquet(sys.argv[2])
estimator = nml.CBPE(
    y_pred_proba="score", y_pred="predicted", y_true="label",
    metrics=["roc_auc", "precision", "recall", "f1"], chunk_size=int(sys.argv[3]),
    problem_type="classification_binary",
)
estimator.fit(reference)
table = estimator.estimate(analysis).filter(period="analysis").to_df()
out = []
for _, row in table.iterrows():
    out.append({
        metric: {
            "value": float(row[(metric, "value")]),
            "sampling_error": float(row[(metric, "sampling_error")]),
            "low": float(row[(metric, "lower_confidence_boundary")]),
            "high": float(row[(metric, "upper_confidence_boundary")]),
        }
        for metric in ("roc_auc", "precision", "recall", "f1")
    })
print(json.dumps(out))
"""


def draw(n: int, shift: float, rng: np.random.Generator) -> pl.DataFrame:
    x = rng.normal(shift, 1.0, n)
    truth = 1 / (1 + np.exp(-(2 * x - 1)))
    score = 1 / (1 + np.exp(-(3 * x - 1)))  # over-confident
    return pl.DataFrame(
        {
            "score": score,
            "predicted": (score >= 0.5).astype(np.int64),
            "label": (rng.random(n) < truth).astype(np.int64),
        }
    )


def nannyml_estimates(reference: Path, analysis: Path) -> list[dict[str, Any]]:
    if not NANNYML.exists():
        pytest.fail(
            f"NannyML's environment is missing ({NANNYML}): run bench/peers/setup.sh nannyml, "
            "or set DOORSTEP_TEST_NANNYML=skip"
        )
    done = subprocess.run(
        [str(NANNYML), "-c", SCRIPT, str(reference), str(analysis), str(WINDOW)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    found: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def comparison(tmp_path: Path) -> list[dict[str, Any]]:
    """Per window and metric: doorstep's and NannyML's estimate and interval, and the realised
    value (the table ``docs/monitoring.md`` shows)."""
    rng = np.random.default_rng(2026)
    reference = draw(20_000, 0.0, rng)
    windows = [draw(WINDOW, shift, rng) for shift in SHIFTS]
    reference.write_parquet(tmp_path / "reference.parquet")
    pl.concat(windows).write_parquet(tmp_path / "analysis.parquet")
    theirs = nannyml_estimates(tmp_path / "reference.parquet", tmp_path / "analysis.parquet")
    calibration = fit_calibration(reference["score"].to_numpy(), reference["label"].to_numpy() == 1)
    rows = []
    for index, window in enumerate(windows):
        predicted = window["predicted"].to_numpy() == 1
        label = window["label"].to_numpy() == 1
        estimate = EstimatedQuality(calibration)
        estimate.add(window["score"].to_numpy(), predicted)
        ours = estimate.result()
        tp = float(np.sum(predicted & label))
        realised = {
            "auc": float(roc_auc_score(label, window["score"].to_numpy())),
            "precision": tp / predicted.sum(),
            "recall": tp / label.sum(),
            "f1": 2 * tp / (predicted.sum() + label.sum()),
        }
        for metric, name in METRICS.items():
            rows.append(
                {
                    "window": index,
                    "metric": name,
                    "doorstep": ours[name],
                    "nannyml": theirs[index][metric],
                    "realised": realised[name],
                }
            )
    return rows


def test_estimates_agree_with_nannyml_cbpe(tmp_path: Path) -> None:
    rows = comparison(tmp_path)
    assert len(rows) == len(SHIFTS) * len(METRICS)
    z = z_value()
    for row in rows:
        ours, theirs, name = row["doorstep"], row["nannyml"], row["metric"]
        assert ours.value is not None and ours.low is not None and ours.high is not None
        tolerance = 0.002 if name == "auc" else 1e-6
        assert ours.value == pytest.approx(theirs["value"], abs=tolerance), row
        error = (ours.high - ours.low) / (2 * z)
        assert 1 / 3 <= error / theirs["sampling_error"] <= 2.0, row
        assert theirs["low"] <= row["realised"] <= theirs["high"], row
        slack = 0.5 * (ours.high - ours.low)  # 95%: one window of 16 may fall just outside
        assert ours.low - slack <= row["realised"] <= ours.high + slack, row
