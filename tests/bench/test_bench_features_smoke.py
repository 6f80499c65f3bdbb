"""The feature-lookup benchmark still runs: a tiny run (2 s at 50 requests/s, a small model, one
round) against its own PostgreSQL cluster. Only that it finishes and every figure is finite."""

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
def test_bench_features_runs(tmp_path: Path) -> None:
    out = tmp_path / "features.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.bench_features",
            "--rate",
            "50",
            "--duration",
            "2",
            "--repeat",
            "1",
            "--trees",
            "20",
            "--customers",
            "1200",
            "--batches",
            "100",
            "--data-dir",
            str(tmp_path / "data"),
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
