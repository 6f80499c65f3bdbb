"""The dispatch benchmark still runs: 200 deliveries and 1 s of single decisions against the local
receiver, with a tiny model (shared with the other smoke tests). Targets are not checked; only
that every figure is finite and that the receiver got every delivery once, signed."""

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
def test_bench_dispatch_runs(bench_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "dispatch.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.bench_dispatch",
            "--deliveries",
            "200",
            "--concurrency",
            "8",
            "--floor-seconds",
            "0.2",
            "--rate",
            "5",
            "--duration",
            "1",
            "--screen",
            "3",
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
    assert set(figures) >= {"dispatch_vs_receiver", "deliveries_per_second", "latency_p50_ms"}
    assert all(math.isfinite(v) for v in figures.values()), figures
    result = json.loads(out.read_text())
    (run,) = result["throughput"]["runs"]["doorstep"]
    assert run["every_key_once"], run
    assert run["receiver"]["distinct"] == 200 and run["receiver"]["bad_signatures"] == 0
    assert run["store_counts"]["delivered"] == 200
    latency = result["latency"]
    assert latency["decisions"] == latency["arrived"] == 5
    assert latency["receiver"]["bad_signatures"] == 0
