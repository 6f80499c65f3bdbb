"""Feedback at scale: outcome import, the monitoring report and the training-data export over a
store of N labelled decisions, each phase in its own process (peak RSS per phase).

The floor is what the report replaces: read every labelled decision into memory at once and
compute AUC, Brier, precision and recall with scikit-learn (no intervals, no windows, no ROI).
The report must give the same AUC and Brier score in memory that does not grow with N.

    python -m bench.bench_feedback --decisions 1000000
    python -m bench.bench_feedback --decisions 200000 --db postgresql://localhost/bench

Prints one table and writes ``bench/.data/feedback.json`` (``--json`` elsewhere).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import DATA_DIR, machine_info, print_table, write_json

SPEC = """\
app: {name: churn, owner: bench@example.com}
model: {path: model.lgb.txt, task: binary, positive_class: 1}
inputs:
  id: customer_id
  fields:
    tenure_months: {type: int, min: 0}
policy:
  control_group: 0.1
  rules: [{when: "score >= 0.5", action: retention_offer}]
actions:
  retention_offer: {value: 240, cost: 30}
monitoring:
  window: day
  outcome: {horizon: 30d, field: churned}
"""
START = datetime(2025, 1, 1, tzinfo=UTC)
DAYS = 30


def _spec() -> Any:
    from doorstep.core.spec.loader import parse_spec

    return parse_spec(SPEC, file="bench.yaml", env={}).spec


def _peak_mib() -> float:
    """This process's peak resident memory: ``VmHWM`` (``ru_maxrss`` would report the parent's
    peak, which it inherits across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seed(db: str, n: int, folder: Path) -> dict[str, Any]:
    """N decisions over 30 days (scores ~ true churn probability plus noise) and their outcome
    file (every decision's customer, churned or not, five days later)."""
    from doorstep.ids import new_id
    from doorstep.store import RecordRequest, open_store
    from doorstep.types import Decision, DecisionStatus

    rng = np.random.default_rng(7)
    true_p = rng.beta(2, 4, n)
    score = np.clip(true_p + rng.normal(0, 0.1, n), 0, 1)
    control = rng.random(n) < 0.1
    acting = score >= 0.5
    churned = rng.random(n) < np.where(acting & ~control, true_p * 0.7, true_p)
    minutes = np.sort(rng.integers(0, DAYS * 24 * 60, n))
    started = time.perf_counter()
    with open_store(db) as store:
        for lo in range(0, n, 20_000):
            batch = [
                Decision(
                    id=new_id(),
                    app="churn",
                    entity_id=f"C{i:09d}",
                    model_version="v1",
                    model_hash="ab" * 32,
                    inputs={"tenure_months": int(i % 120)},
                    score=float(score[i]),
                    action="retention_offer" if acting[i] else "none",
                    rule="rule 1" if acting[i] else None,
                    review=False,
                    control=bool(acting[i] and control[i]),
                    status=DecisionStatus.HELD_OUT
                    if acting[i] and control[i]
                    else DecisionStatus.DECIDED,
                    reasons=None,
                    reasons_text=None,
                    created_at=START + timedelta(minutes=int(minutes[i])),
                )
                for i in range(lo, min(lo + 20_000, n))
            ]
            store.record([RecordRequest(batch)], actor="bench")
    seeded = time.perf_counter() - started
    observed = [(START + timedelta(minutes=int(m), days=5)).isoformat() for m in minutes]
    import polars as pl

    pl.DataFrame(
        {
            "customer_id": [f"C{i:09d}" for i in range(n)],
            "churned": churned.astype(np.int64),
            "observed_at": observed,
        }
    ).write_csv(folder / "outcomes.csv")
    return {"seconds": seeded}


def phase_import(db: str, folder: Path) -> dict[str, Any]:
    from doorstep.services.outcomes.ingest import import_outcomes
    from doorstep.store import open_store

    started = time.perf_counter()
    with open_store(db) as store:
        summary = import_outcomes(_spec(), store, folder / "outcomes.csv", actor="bench")
    return {
        "seconds": time.perf_counter() - started,
        "rows": summary.rows,
        "matched": summary.recorded.matched,
        "peak_mib": _peak_mib(),
    }


def phase_report(db: str, folder: Path) -> dict[str, Any]:
    from doorstep.services.monitor.report import monitoring_report
    from doorstep.store import open_store
    from doorstep.types import RoiReport

    started = time.perf_counter()
    with open_store(db) as store:
        report = monitoring_report(_spec(), store, since=START, until=START + timedelta(days=DAYS))
    total = report.quality.total
    auc, brier = total.metric("auc"), total.metric("brier")
    return {
        "seconds": time.perf_counter() - started,
        "labelled": total.labelled,
        "auc": auc.value if auc else None,
        "brier": brier.value if brier else None,
        "uplift": report.roi.uplift.value if isinstance(report.roi, RoiReport) else None,
        "peak_mib": _peak_mib(),
    }


def phase_floor(db: str, folder: Path) -> dict[str, Any]:
    """Everything in memory at once: the labelled decisions read whole, then scikit-learn."""
    import sqlalchemy as sa
    from sklearn.metrics import brier_score_loss, precision_score, recall_score, roc_auc_score

    from doorstep.store import open_store
    from doorstep.store.tables import decisions, outcomes

    started = time.perf_counter()
    with open_store(db) as store, store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(decisions.c.score, decisions.c.action, outcomes.c.label).join(
                outcomes, outcomes.c.decision_id == decisions.c.id
            )
        ).all()
    score = np.array([r[0] for r in rows])
    predicted = np.array([r[1] != "none" for r in rows])
    label = np.array([r[2] == "1" for r in rows])
    auc = roc_auc_score(label, score)
    brier = brier_score_loss(label, score)
    precision_score(label, predicted)
    recall_score(label, predicted)
    return {
        "seconds": time.perf_counter() - started,
        "labelled": len(rows),
        "auc": float(auc),
        "brier": float(brier),
        "peak_mib": _peak_mib(),
    }


def phase_export(db: str, folder: Path) -> dict[str, Any]:
    from doorstep.services.outcomes.training import export_training_data
    from doorstep.store import open_store

    started = time.perf_counter()
    with open_store(db) as store:
        summary = export_training_data(_spec(), store, folder / "training.parquet")
    return {
        "seconds": time.perf_counter() - started,
        "rows": summary.rows,
        "peak_mib": _peak_mib(),
    }


PHASES = {
    "import": phase_import,
    "report": phase_report,
    "floor": phase_floor,
    "export": phase_export,
}


def _child(phase: str, db: str, folder: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_feedback", "--phase", phase, "--db", db,
         "--folder", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"phase {phase} failed:\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--db", help="Store URL (default: a fresh SQLite file).")
    parser.add_argument(
        "--json", type=Path, default=DATA_DIR / "feedback.json", help="Where to write the figures."
    )
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(PHASES[args.phase](args.db, args.folder)))
        return
    n = args.decisions
    with tempfile.TemporaryDirectory(prefix="bench-feedback-") as scratch:
        folder = Path(scratch)
        db = args.db or f"sqlite:///{folder / 'doorstep.db'}"
        seeded = seed(db, n, folder)
        phases = ("import", "report", "floor", "export")
        results = {phase: _child(phase, db, folder) for phase in phases}
    report, floor = results["report"], results["floor"]
    assert abs(report["auc"] - floor["auc"]) < 1e-9 and abs(report["brier"] - floor["brier"]) < 1e-9
    rows = [
        ["outcome import", f"{n / results['import']['seconds']:,.0f} outcomes/s",
         f"{results['import']['seconds']:.1f}", f"{results['import']['peak_mib']:.0f}", ""],
        ["monitoring report", f"{n / report['seconds']:,.0f} decisions/s",
         f"{report['seconds']:.1f}", f"{report['peak_mib']:.0f}",
         f"{report['seconds'] / floor['seconds']:.2f}x time, "
         f"{report['peak_mib'] / floor['peak_mib']:.2f}x memory of the floor"],
        ["floor: all in memory + sklearn", f"{n / floor['seconds']:,.0f} decisions/s",
         f"{floor['seconds']:.1f}", f"{floor['peak_mib']:.0f}", "AUC and Brier equal"],
        ["training-data export", f"{n / results['export']['seconds']:,.0f} rows/s",
         f"{results['export']['seconds']:.1f}", f"{results['export']['peak_mib']:.0f}", ""],
    ]  # fmt: skip
    backend = db.split(":", 1)[0]
    print_table(
        f"{n:,} labelled decisions on {backend} (seeded in {seeded['seconds']:.0f} s)",
        ["phase", "throughput", "seconds", "peak RSS MiB", "against the floor"],
        rows,
    )
    write_json(
        args.json,
        {"decisions": n, "backend": backend, "machine": machine_info(), **results},
    )


if __name__ == "__main__":
    main()
