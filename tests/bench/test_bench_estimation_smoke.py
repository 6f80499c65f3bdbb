"""The estimation benchmark still runs: small sizes, every measure, figures written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.paths import ROOT


@pytest.mark.slow
def test_bench_estimation_runs_at_a_tiny_size(tmp_path: Path) -> None:
    figures = tmp_path / "estimation.json"
    done = subprocess.run(
        [
            sys.executable, "-m", "bench.bench_estimation", "--decisions", "50000",
            "--window", "5000", "--repeat", "1", "--json", str(figures),
            "--data-dir", str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "estimated quality" in done.stdout and "multivariate drift" in done.stdout
    saved = json.loads(figures.read_text())
    assert saved["estimation"]["decisions"] == 50_000
    assert 0.5 < saved["estimation"]["auc"] < 1
    dle = saved["dle"]  # the loss models' estimate of a window like their reference
    assert dle["decisions"] == 50_000
    assert dle["estimated_mae"] == pytest.approx(dle["realised_mae"], rel=0.05)
    assert saved["multivariate"]["window"] == 5_000
    assert saved["multivariate"]["status"] == "ok"  # two samples of one distribution
