"""The monitoring-under-load benchmark still runs: a tiny store, one round of the three phases
at 50 requests/s for 2 s, the scheduled monitor's slot inside its phase. Only that the figures
are there and finite; no target is checked.

It stays long (about a minute, mostly waiting): its scheduled phase waits for the monitor's next
cron slot, and cron counts in minutes."""

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
def test_bench_monitor_load_runs(bench_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "monitor-load.json"
    done = subprocess.run(
        [
            sys.executable, "-m", "bench.bench_monitor_load",
            "--decisions", "1000", "--days", "2", "--rate", "50", "--duration", "2",
            "--repeat", "1", "--every", "1", "--lead", "0.5", "--trees", "20",
            "--data-dir", str(bench_data), "--json", str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    figures = {m[1]: float(m[2]) for m in re.finditer(r"^ratio (\S+): (\S+)", done.stdout, re.M)}
    assert {"on_demand_p99_vs_baseline", "scheduled_p99_vs_baseline"} <= set(figures)
    assert all(math.isfinite(v) and v > 0 for v in figures.values()), figures
    saved = json.loads(out.read_text())
    assert saved["store"]["decisions"] == 1000 and saved["store"]["matched"] > 0
    (only,) = saved["rounds"]
    assert all(only[p]["sent"] == 100 for p in ("baseline", "on_demand", "scheduled"))
    assert only["scheduled"]["monitor"]["overlap_seconds"] > 0
    assert only["on_demand"]["monitor"]["exit"] in (0, 3, 4)
