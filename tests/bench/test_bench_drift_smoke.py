"""The drift benchmark still runs: doorstep and the numpy/scipy floor on 3,000 x 3,000 rows (no
peers needed). Speed targets are not checked here; the figures are finite, the two tools agree
and the injected drift is what doorstep flags."""

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
def test_bench_drift_runs(bench_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "drift.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.bench_drift",
            "--rows",
            "3000",
            "--only",
            "doorstep,floor",
            "--repeat",
            "1",
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
    ratios = {m[1]: float(m[2]) for m in re.finditer(r"^ratio (\S+): (\S+)", done.stdout, re.M)}
    assert ratios["floor_over_doorstep_seconds"] > 0
    assert all(math.isfinite(v) for v in ratios.values()), ratios
    assert ratios["max_rel_diff_vs_floor"] < 1e-6  # the same statistics
    result = json.loads(out.read_text())
    best = result["best"]
    assert set(best) == {"doorstep", "floor"}
    assert all(b["peak_rss_bytes"] > 0 and b["seconds"] > 0 for b in best.values())
    assert best["doorstep"]["stats"]["x00"]["status"] == "alert"  # shifted by half a sd
    assert best["doorstep"]["stats"]["channel"]["status"] in ("warn", "alert")  # 20% to "app"
    assert best["doorstep"]["stats"]["x01"]["status"] == "ok"  # untouched
