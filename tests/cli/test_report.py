"""``doorstep report``: the monitoring report written as one self-contained HTML file."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_outcomes import setup
from tests.services.monitor.test_report_html import assert_self_contained, parse
from typer.testing import CliRunner

from doorstep.cli.main import app

runner = CliRunner()


def test_report_writes_the_same_report_as_monitor_json(tmp_path: Path) -> None:
    db, spec = setup(tmp_path)
    source = tmp_path / "outcomes.csv"
    source.write_text("customer_id,churned,observed_at\nC-0,1,2025-03-02\nC-1,0,2025-03-02\n")
    imported = runner.invoke(
        app, ["outcomes", "import", str(source), "--spec", str(spec), "--db", db]
    )
    assert imported.exit_code == 0, imported.output
    window = ["--since", "2025-03-01", "--until", "2025-03-03"]
    out = tmp_path / "out" / "report.html"
    args = ["report", "--spec", str(spec), "--db", db, "--out", str(out), *window]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"Wrote {out}" in result.stdout.replace("\n", "")
    assert "2 day windows, 6 decisions, 2 with an outcome; ROI too_small" in result.stdout
    html = out.read_text()
    assert_self_contained(html, parse(html))
    report = json.loads(
        runner.invoke(app, ["monitor", "--spec", str(spec), "--db", db, "--json", *window]).stdout
    )
    assert report["quality"]["total"]["labelled"] == 2
    assert report["roi"]["message"] in html.replace("&#39;", "'")
    assert "6 decisions, 2 with a known outcome" in html
    assert "in 2 day windows" in html


def test_report_refuses_what_it_cannot_write(tmp_path: Path) -> None:
    db, spec = setup(tmp_path)
    wrong = runner.invoke(
        app, ["report", "--spec", str(spec), "--db", db, "--out", str(tmp_path / "r.pdf")]
    )
    assert wrong.exit_code == 1 and "--out must name an .html file" in wrong.stderr
    bad = runner.invoke(
        app, ["report", "--spec", str(spec), "--db", db, "--window", "fortnight", "-o", "x.html"]
    )
    assert bad.exit_code == 1 and "must be hour, day, week, month or a number of rows" in bad.stderr
    assert not (tmp_path / "r.pdf").exists()
