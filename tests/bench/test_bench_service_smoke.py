"""The decision-service benchmark still runs: a tiny run against doorstep only (no peers, no
floors' targets checked), 1 s at 50 requests/s. Only that every figure printed is finite."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests.paths import ROOT


@pytest.mark.slow
def test_bench_service_runs(bench_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "service.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.bench_service",
            "--only",
            "held",
            "--rate",
            "50",
            "--duration",
            "1",
            "--repeat",
            "1",
            "--trees",
            "20",
            "--data-dir",
            str(bench_data),
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    figures = {m[1]: float(m[2]) for m in re.finditer(r"^ratio (\S+): (\S+)", done.stdout, re.M)}
    assert "held_p99_ms" in figures, done.stdout
    assert all(math.isfinite(v) and v > 0 for v in figures.values()), figures
    held = json.loads(out.read_text())["held"]
    assert held["sent"] == 50
    assert held["ok"] + held["errors"] == held["sent"]
    assert all(math.isfinite(held[k]) for k in ("achieved_rate", "p50_ms", "p99_ms"))
