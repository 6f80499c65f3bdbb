"""The feedback benchmark still runs: a tiny store, every phase, the same AUC as the floor."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.paths import ROOT


@pytest.mark.slow
def test_bench_feedback_runs_at_a_tiny_size(tmp_path: Path) -> None:
    figures = tmp_path / "feedback.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.bench_feedback",
            "--decisions",
            "2000",
            "--json",
            str(figures),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for phase in ("outcome import", "monitoring report", "floor", "training-data export"):
        assert phase in done.stdout
    saved = json.loads(figures.read_text())
    assert saved["decisions"] == 2000
    assert saved["import"]["matched"] == 2000 and saved["export"]["rows"] == 2000
    assert abs(saved["report"]["auc"] - saved["floor"]["auc"]) < 1e-9
