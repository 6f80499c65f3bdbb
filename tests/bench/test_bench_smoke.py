"""The benchmarks still run: each script at a tiny size, with a tiny model.

Speed targets are not checked here (see BENCHMARKS.md); only that every ratio printed is a
positive, finite number.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests.paths import ROOT

TINY = ["--train-rows", "2000", "--trees", "10"]


@pytest.fixture(scope="module")
def data_dir(bench_data: Path) -> Path:
    return bench_data


def run(module: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def printed_ratios(stdout: str) -> dict[str, float]:
    return {m[1]: float(m[2]) for m in re.finditer(r"^ratio (\S+): (\S+)", stdout, re.M)}


@pytest.mark.slow
def test_bench_score_runs(data_dir: Path) -> None:
    out = data_dir / "score.json"
    stdout = run(
        "bench.bench_score",
        "--rows",
        "2000",
        "--explain-rows",
        "500",
        "--repeat",
        "1",
        "--data-dir",
        str(data_dir),
        "--json",
        str(out),
        *TINY,
    )
    ratios = printed_ratios(stdout)
    assert set(ratios) >= {"score_vs_floor_a", "explain_vs_floor_a_plus_b", "cli_vs_floor_a"}
    assert all(math.isfinite(v) and v > 0 for v in ratios.values()), ratios
    result = json.loads(out.read_text())
    assert result["ratios"].keys() == ratios.keys()
    assert result["explained_rows"] == 500


@pytest.mark.slow
def test_bench_memory_runs(data_dir: Path) -> None:
    out = data_dir / "memory.json"
    stdout = run(
        "bench.bench_memory",
        "--rows",
        "4000",
        "--base-rows",
        "2000",
        "--data-dir",
        str(data_dir),
        "--json",
        str(out),
        *TINY,
    )
    ratio = float(re.search(r"^ratio large/base peak: (\S+)", stdout, re.M)[1])  # type: ignore[index]
    assert math.isfinite(ratio) and ratio > 0
    result = json.loads(out.read_text())
    assert result["peak_bytes"]
    assert not list(data_dir.glob("rows-*-4000.parquet"))  # the large file is removed


@pytest.mark.slow
def test_bench_record_runs(data_dir: Path) -> None:
    out = data_dir / "record.json"
    stdout = run(
        "bench.bench_record",
        "--rows",
        "3000",
        "--chunk-rows",
        "1000",
        "--repeat",
        "1",
        "--data-dir",
        str(data_dir),
        "--json",
        str(out),
        *TINY,
    )
    ratios = printed_ratios(stdout)
    assert set(ratios) == {
        "record_vs_score",
        "record_vs_score_plus_store",
        "record_rate_vs_target",
        "import_vs_record",
        "import_rate_vs_target",
    }
    assert all(math.isfinite(v) and v > 0 for v in ratios.values()), ratios
    result = json.loads(out.read_text())
    assert result["decided"] == 3000 and result["per_second"]["record"] > 0
    assert result["per_second"]["import"] > 0
