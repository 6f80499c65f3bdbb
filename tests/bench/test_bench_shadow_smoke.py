"""``bench_shadow`` still runs (at a tiny size; targets are not checked here)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest


@pytest.mark.slow
def test_bench_shadow_runs(tmp_path: Path) -> None:
    from bench.bench_shadow import main

    out = tmp_path / "shadow.json"
    argv = ["--requests", "60", "--clients", "4", "--repeat", "1", "--trees", "5"]
    results = main([*argv, "--data-dir", str(tmp_path), "--json", str(out)])
    assert math.isfinite(results["ratio"]) and results["ratio"] > 0
    stored = json.loads(out.read_text())
    assert set(stored["decisions_per_second"]) == {"off", "on"}
