"""The feature-lookup benchmark still runs: a tiny run (0.5 s at 50 requests/s, a small model,
one round, 20 in-process micro-batches) against its own PostgreSQL cluster. Only that it
finishes and every figure is finite; the round trip of 1,000 entities is one statement."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from tests.paths import ROOT


@pytest.mark.slow
@pytest.mark.postgres  # the benchmark starts a PostgreSQL cluster of its own
def test_bench_features_runs(bench_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "features.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.bench_features",
            "--rate",
            "50",
            "--duration",
            "0.5",
            "--repeat",
            "1",
            "--trees",
            "20",
            "--customers",
            "1200",
            "--batches",
            "20",
            "--data-dir",
            str(bench_data),
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["round_trip"] == {**result["round_trip"], "entities": 1000, "statements": 1}
    figures = [*result["in_process"].values(), result["latency"]["p99_delta_ms"]]
    assert all(math.isfinite(v) for v in figures)
    assert "1,000 entities: 1 statement" in done.stdout
