"""``features`` and ``schedules`` in the spec: valid ones load; broken ones are located."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tests.paths import ROOT

from doorstep.core.spec.loader import parse_spec
from doorstep.errors import SpecError
from doorstep.runtime.run_scheduler import latest_slot

HEAD = """\
app: {name: churn, owner: o}
model: {path: m.txt}
inputs:
  id: customer_id
  fields:
    tenure_months: {type: int, min: 0}
    plan: {type: category, values: [basic, premium]}
"""

GOOD = (
    HEAD
    + """\
features:
  db:
    type: sql
    url: sqlite:///f.db
    table: customer_features
    columns: {tenure_months: tenure}
    observed_at: updated_at
    max_age: 2d
  cache:
    type: redis
    key: "customer:{id}"
    columns: [plan]
schedules:
  nightly: {cron: "0 2 * * *", source: db, timezone: Europe/Berlin}
"""
)


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_spec(text, file="app.yaml", env={})
    return [str(issue) for issue in caught.value.issues]


def test_sources_and_schedules_load() -> None:
    spec = parse_spec(GOOD, file="app.yaml", env={}).spec
    assert spec.features["db"].max_age_delta is not None
    assert spec.schedules["nightly"].timezone == "Europe/Berlin"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("columns: {tenure_months: tenure}", "columns: {tenur_months: tenure}"),
         "app.yaml:13 features.db.columns: unknown input field 'tenur_months' (did you mean "
         "'tenure_months'?)"),
        (("columns: [plan]", "columns: [plan, tenure_months]"),
         "features.cache.columns: 'tenure_months' comes from source 'db' already"),
        (("source: db,", "source: dbb,"),
         "app.yaml:21 schedules.nightly.source: unknown feature source 'dbb' (did you mean 'db'?)"),
        (("source: db,", "source: cache,"),
         "schedules.nightly.source: source 'cache' cannot list its entities"),
        (('cron: "0 2 * * *"', 'cron: "0 25 * * *"'),
         "app.yaml:21 schedules.nightly.cron: not a valid cron expression"),
        (("timezone: Europe/Berlin", "timezone: Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
        (("    observed_at: updated_at\n", ""), "'max_age' needs 'observed_at'"),
        (("    table: customer_features\n", "    query: SELECT * FROM t\n"),
         "'query' must take the entity ids as ':ids'"),
        (('key: "customer:{id}"', 'key: "customer"'), "'key' must hold '{id}'"),
    ],
)  # fmt: skip
def test_broken_sources_are_located(change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in GOOD
    found = problems(GOOD.replace(old, new))
    assert any(expected in p for p in found), found


def test_latest_slot_follows_the_time_zone() -> None:
    spec = parse_spec(GOOD, file="app.yaml", env={}).spec
    # 02:00 in Berlin is 00:00 UTC in summer
    now = datetime(2025, 7, 10, 0, 30, tzinfo=UTC)
    assert latest_slot(spec.schedules["nightly"], now) == datetime(2025, 7, 10, 0, 0, tzinfo=UTC)


def test_the_documented_sources_and_schedules_load() -> None:
    """docs/features.md and docs/runs.md show what doorstep accepts (in the churn example)."""
    import re
    from importlib import resources

    docs = ROOT / "docs"
    example = resources.files("doorstep.examples.churn").joinpath("doorstep.yaml").read_text()
    head, tail = example[: example.index("features:")], example[example.index("connectors:") :]
    features = re.findall(r"```yaml\n(.*?)```", (docs / "features.md").read_text(), re.S)[0]
    schedules = re.findall(r"```yaml\n(.*?)```", (docs / "runs.md").read_text(), re.S)[0]
    text = head + features + schedules + tail
    spec = parse_spec(text, file="docs.yaml", env={}).spec
    assert set(spec.features) == {"customer_db", "sessions"}
    assert spec.schedules["nightly"].source == "customer_db"
