"""``doorstep monitor --threads 1`` caps polars' and OpenMP's pools: the command line loads
neither before the command runs, so the cap is in place when they size their pools."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

CHILD = textwrap.dedent(
    """
    import json, sys
    from typer.testing import CliRunner
    from doorstep.cli.main import app
    import os
    loaded_before = "polars" in sys.modules
    base = os.nice(0)  # inherited: in-process runs of monitor earlier in a suite niced it
    args = ["monitor", "--spec", sys.argv[1], "--db", sys.argv[2], "--no-drift", "--json"]
    result = CliRunner().invoke(app, [*args, *sys.argv[3:]])
    import polars as pl
    print(json.dumps({"exit": result.exit_code, "output": result.output[-2000:],
                      "loaded_before": loaded_before, "pool": pl.thread_pool_size(),
                      "omp": os.environ.get("OMP_NUM_THREADS"), "nice": os.nice(0) - base,
                      "base": base}))
    """
)


def _monitor(churn_app: Path, tmp_path: Path, *extra: str) -> dict[str, object]:
    url = f"sqlite:///{tmp_path / 'doorstep.db'}"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(churn_app / "doorstep.yaml"), url, *extra],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)},
    )
    answer: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["exit"] == 0, answer["output"]
    assert answer["loaded_before"] is False
    return answer


def test_threads_and_nice_are_set_before_the_pools_are_sized(
    churn_app: Path, tmp_path: Path
) -> None:
    capped = _monitor(churn_app, tmp_path, "--threads", "1", "--nice", "3")
    assert isinstance(capped["base"], int)
    assert (capped["pool"], capped["omp"], capped["nice"]) == (1, "1", min(3, 19 - capped["base"]))
    default = _monitor(churn_app, tmp_path, "--nice", "0")
    assert default["omp"] is None and default["nice"] == 0
    if len(os.sched_getaffinity(0)) > 1:
        assert isinstance(default["pool"], int) and default["pool"] > 1  # one per core
