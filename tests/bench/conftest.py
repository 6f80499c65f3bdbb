"""Fixtures of the benchmarks' smoke tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def bench_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ``--data-dir`` for every smoke test. The benchmarks cache what they generate there
    under names that carry its size and model size (as in bench/.data), so the churn app that
    bench_dispatch, bench_monitor_load and bench_service share (``--trees 20``) is trained
    once, and bench_score's model and rows serve bench_memory too."""
    return tmp_path_factory.mktemp("bench-data")
