"""Refused records in the monitoring report: a file run's bad rows and an API's bad records are
kept (PII values masked), counted in their window beside the decisions, per field and rule.
On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from doorstep.services.apps.loading import load_app
from doorstep.services.decide.online import OnlineRequest, decide_requests
from doorstep.services.monitor.report import monitoring_report
from doorstep.services.runs.file_runs import record_file
from doorstep.store import Store
from doorstep.store.tables import rejects


def test_refused_records_are_kept_and_counted_beside_the_decisions(
    churn_app: Path, store: Store
) -> None:
    spec_path = churn_app / "doorstep.yaml"
    label = 'label: "Months as a customer"'
    text = spec_path.read_text()
    assert label in text
    text = text.replace(label, f"{label}, pii: true")
    spec_path.write_text(text)
    app = load_app(spec_path)
    frame = pl.read_parquet(churn_app / "customers.parquet").head(100)
    bad = frame.with_columns(
        pl.when(pl.int_range(pl.len()) < 10)
        .then(pl.lit(-5))
        .otherwise(pl.col("tenure_months"))
        .alias("tenure_months"),
        pl.when(pl.int_range(pl.len()).is_between(5, 14))
        .then(pl.lit("gold"))
        .otherwise(pl.col("plan"))
        .alias("plan"),
    )
    path = churn_app / "bad.parquet"
    bad.write_parquet(path)
    run = record_file(
        app, store, path, input_format=None, deliver=False, explain=False, chunk_rows=40
    )
    assert (run.decided, run.rejected) == (85, 15)
    record = dict(frame.row(0, named=True))
    record["plan"] = "platinum"
    answered, _ = decide_requests(
        app, store, [OnlineRequest([record], single=True, actor="t", explain=False)]
    )
    assert answered[0].__class__.__name__ == "RecordsInvalidError"

    now = datetime.now(UTC)
    report = monitoring_report(app.spec, store, window="hour", periods=2, now=now)
    assert report.rejects is not None
    latest = report.rejects.windows[-1]
    assert (latest.decided, latest.rejected) == (85, 16)
    assert latest.rate == 16 / 101
    rules = {(r.field, r.rule): (r.count, r.records) for r in latest.rules}
    assert rules == {("tenure_months", "min"): (10, 10), ("plan", "allowed_values"): (11, 11)}
    assert report.rejects.windows[0].rejected == 0
    assert report.to_dict()["rejects"]["windows"][-1]["rejected"] == 16

    with store.engine.connect() as conn:
        kept = conn.execute(sa.select(rejects.c.field, rejects.c.value, rejects.c.source)).all()
    values = {(f, v) for f, v, _ in kept}
    assert ("tenure_months", "***") in values and ("tenure_months", "-5") not in values
    assert ("plan", "gold") in values and ("plan", "platinum") in values
    assert {s for _, _, s in kept} == {"file", "api"}


def test_refused_records_are_shown_in_the_cli_and_the_html_report(
    churn_app: Path, store: Store
) -> None:
    from rich.console import Console

    from doorstep.cli.monitor_render import render_report
    from doorstep.services.monitor.report_html import render_report_html

    app = load_app(churn_app / "doorstep.yaml")
    frame = pl.read_parquet(churn_app / "customers.parquet").head(30)
    bad = frame.with_columns(
        pl.when(pl.int_range(pl.len()) < 6)
        .then(pl.lit("gold"))
        .otherwise(pl.col("plan"))
        .alias("plan")
    )
    path = churn_app / "bad.parquet"
    bad.write_parquet(path)
    record_file(app, store, path, input_format=None, deliver=False, explain=False, chunk_rows=40)
    report = monitoring_report(app.spec, store, window="day", periods=1, now=datetime.now(UTC))
    out = Console(record=True, width=160)
    render_report(report, out)
    text = out.export_text()
    assert "Refused records" in text and "plan: allowed_values × 6" in text
    assert "Refused: 6 of 30 records (20.0%)" in text
    html = render_report_html(report)
    assert 'id="refused-windows"' in html and "plan: allowed_values × 6" in html
    assert "20.0 %" in html


def test_a_rejected_rate_over_its_threshold_raises_an_alert(churn_app: Path, store: Store) -> None:
    from doorstep.services.monitor.alerts import run_monitor

    spec_path = churn_app / "doorstep.yaml"
    spec_path.write_text(
        spec_path.read_text()
        + "  alerts:\n"
        + "    connectors: [callbacks]\n"
        + "    include_current: true\n"
        + "    drift: false\n"
        + "    quality: {rejected_rate: {warn: 0.05, alert: 0.1}, min_labelled: 20}\n"
    )
    app = load_app(spec_path)
    frame = pl.read_parquet(churn_app / "customers.parquet").head(40)
    bad = frame.with_columns(
        pl.when(pl.int_range(pl.len()) < 6).then(pl.lit(-1)).otherwise(pl.col("tenure_months"))
        .alias("tenure_months")
    )  # fmt: skip
    path = churn_app / "bad.parquet"
    bad.write_parquet(path)
    record_file(app, store, path, input_format=None, deliver=False, explain=False, chunk_rows=40)
    result = run_monitor(app.spec, store, alert=False)
    [seen] = [o for o in result.observations if o.subject == "quality.rejected_rate"]
    assert seen.status == "alert" and seen.value == 6 / 40 and seen.count == 40
    assert "rejected rate 0.15 >= 0.1 (alert)" in seen.checks[0]
