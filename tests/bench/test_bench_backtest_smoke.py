"""The backtest benchmark still runs: a tiny store, both measurements, the figures saved."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.paths import ROOT


@pytest.mark.slow
def test_bench_backtest_runs_at_a_tiny_size(tmp_path: Path, bench_data: Path) -> None:
    figures = tmp_path / "backtest.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_backtest", "--rows", "3000", "--repeat", "1",
         "--trees", "20", "--train-rows", "5000", "--data-dir", str(bench_data),
         "--json", str(figures)],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "backtest (read, decide, compare, quality, sample)" in done.stdout
    saved = json.loads(figures.read_text())
    assert saved["rows"] == 3000 and 0 < saved["labelled"] < 3000
    assert saved["ratio"] > 0 and saved["timings"]["backtest"]["best"] > 0
