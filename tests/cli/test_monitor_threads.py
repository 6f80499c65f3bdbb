"""``doorstep monitor --nice N --threads T`` computes its report in a child process at niceness
N (relative to the command's) with its thread pools capped at T, and leaves the command's own
process as it was: its niceness, its environment, and polars not even imported. ``--nice 0``
without ``--threads`` computes in the command's own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

SCRIPT = textwrap.dedent(
    """
    import json, os, sys

    import doorstep.services.monitor.on_demand as on_demand

    measure = on_demand.monitor_app


    def probed(*args, **kwargs):
        # where the report is computed: this process or a child (which imports this file, with
        # the same sys.argv); one line per report in the probe file (the report is frozen)
        import polars as pl

        report = measure(*args, **kwargs)
        probe = {"pid": os.getpid(), "nice": os.nice(0),
                 "pool": pl.thread_pool_size(), "omp": os.environ.get("OMP_NUM_THREADS")}
        with open(sys.argv[4], "a") as out:
            out.write(json.dumps(probe) + "\\n")
        return report


    if __name__ == "__main__":
        on_demand.monitor_app = probed  # before the command line imports it
        from typer.testing import CliRunner
        from doorstep.cli.main import app

        base = os.nice(0)
        spec, db, runs = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
        for extra in runs:
            args = ["monitor", "--spec", spec, "--db", db, "--no-drift", "--json", *extra]
            result = CliRunner().invoke(app, args)
            with open(sys.argv[4]) as probes:
                probe = json.loads(probes.read().splitlines()[-1])
            print(json.dumps({
                "exit": result.exit_code, "output": result.output[-2000:], "pid": os.getpid(),
                "probe": probe,
                "base": base, "nice": os.nice(0), "polars": "polars" in sys.modules,
                "omp": os.environ.get("OMP_NUM_THREADS"),
            }))
    """
)


def _monitor(churn_app: Path, tmp_path: Path, *runs: list[str]) -> list[dict[str, Any]]:
    """Run ``doorstep monitor`` once per ``runs`` (its extra arguments), in order, in a fresh
    process; what the command's process and the report's ``probe`` saw, per run."""
    script = tmp_path / "monitor_probe.py"
    script.write_text(SCRIPT)
    url = f"sqlite:///{tmp_path / 'doorstep.db'}"
    done = subprocess.run(
        [
            sys.executable,
            str(script),
            str(churn_app / "doorstep.yaml"),
            url,
            json.dumps(runs),
            str(tmp_path / "probes.jsonl"),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)},
    )
    answers = [json.loads(line) for line in done.stdout.strip().splitlines()[-len(runs) :]]
    for answer in answers:
        assert answer["exit"] == 0, answer["output"]
    return answers


def test_nice_and_threads_apply_to_a_child_and_leave_the_command_as_it_was(
    churn_app: Path, tmp_path: Path
) -> None:
    niced, here = _monitor(churn_app, tmp_path, ["--threads", "1", "--nice", "3"], ["--nice", "0"])
    base = niced["base"]
    assert isinstance(base, int)
    # the work ran in a child process, at niceness N, with one thread per pool
    assert niced["probe"]["pid"] != niced["pid"]
    assert niced["probe"]["nice"] == base + min(3, 19 - base)
    assert (niced["probe"]["pool"], niced["probe"]["omp"]) == (1, "1")
    # the command's own process kept its niceness and its environment, and never loaded polars
    assert niced["nice"] == base
    assert niced["omp"] is None and niced["polars"] is False
    # --nice 0 without --threads: in the command's process, unchanged, one thread per core
    assert here["probe"]["pid"] == here["pid"]
    assert here["probe"]["nice"] == here["nice"] == base
    assert here["probe"]["omp"] is None
    if len(os.sched_getaffinity(0)) > 1:
        assert isinstance(here["probe"]["pool"], int) and here["probe"]["pool"] > 1
