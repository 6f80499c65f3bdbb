"""The bus benchmark still runs: 50 deliveries onto each bus on 127.0.0.1 (the brokers of
tests/connectors/bus_brokers.py). Targets are not checked; only that every figure is finite."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests.connectors.bus_brokers import BROKERS, require_broker
from tests.paths import ROOT


@pytest.mark.slow
@pytest.mark.services
def test_bench_bus_runs(tmp_path: Path) -> None:
    for kind in BROKERS:
        require_broker(kind)
    out = tmp_path / "bus.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_bus", "--deliveries", "50", "--concurrency", "4",
         "--repeat", "1", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    ratios = {m[1]: float(m[2]) for m in re.finditer(r"^ratio (\S+): (\S+)", done.stdout, re.M)}
    assert set(ratios) == {f"{kind}_vs_connector" for kind in BROKERS}
    assert all(math.isfinite(v) and v > 0 for v in ratios.values()), ratios
    assert set(json.loads(out.read_text())["results"]) == set(BROKERS)
