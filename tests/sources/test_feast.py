"""The Feast feature source against a real Feast repository: the local provider and its SQLite
online store, filled by ``materialize``, read by ``get_online_features`` (offline, no server).

Feast pins pandas < 3, so it runs in its own environment (``scripts/feast-env`` creates
``bench/.data/venvs/feast``; ``scripts/test`` runs it first): this test runs a script there with
doorstep's source tree on the path. Without that environment the test fails with the command,
unless ``DOORSTEP_TEST_FEAST=skip``.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest
from tests.paths import ROOT

FEAST_PYTHON = ROOT / "bench" / ".data" / "venvs" / "feast" / "bin" / "python"
SKIP_ENV = "DOORSTEP_TEST_FEAST"

REPO = {
    "feature_store.yaml": """\
        project: doorstep_test
        registry: data/registry.db
        provider: local
        online_store:
          type: sqlite
          path: data/online_store.db
        entity_key_serialization_version: 3
        """,
}

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from datetime import datetime, timedelta, timezone
    from pathlib import Path

    import pandas as pd
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Int64, String

    from doorstep.core.spec.sources import FeastSourceSpec
    from doorstep.errors import ConnectorSpecError
    from doorstep.sources.feast import FeastFeatureSource

    repo = Path(sys.argv[1])
    (repo / "data").mkdir(exist_ok=True)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    updated = now - timedelta(hours=3)
    pd.DataFrame(
        {
            "customer_id": ["C-1", "C-2", "C-3"],
            "tenure": [12, 40, 3],
            "plan": ["basic", "premium", "plus"],
            "event_timestamp": [updated] * 3,
        }
    ).to_parquet(repo / "data" / "customers.parquet")
    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.STRING)
    stats = FeatureView(
        name="customer_stats",
        entities=[customer],
        ttl=timedelta(days=30),
        schema=[
            Field(name="customer_id", dtype=String),
            Field(name="tenure", dtype=Int64),
            Field(name="plan", dtype=String),
        ],
        source=FileSource(
            path=str(repo / "data" / "customers.parquet"), timestamp_field="event_timestamp"
        ),
        online=True,
    )
    store = FeatureStore(repo_path=str(repo))
    store.apply([customer, stats])
    store.materialize(start_date=now - timedelta(days=2), end_date=now)
    spec = FeastSourceSpec(
        type="feast",
        repo=".",
        entity="customer_id",
        columns={"tenure_months": "customer_stats:tenure", "plan": "customer_stats:plan"},
    )
    source = FeastFeatureSource(
        "fs", spec, fields=["tenure_months", "plan"], base_dir=repo
    )
    found = source.lookup(["C-1", "C-2", "C-404"])
    source.probe()
    refused = []
    for feature in ("customer_stats:nope", "no_view:tenure"):
        wrong = FeastFeatureSource(
            "fs",
            spec.model_copy(update={"columns": {"tenure_months": feature}}),
            fields=["tenure_months"],
            base_dir=repo,
        )
        try:
            wrong.probe()
        except ConnectorSpecError as error:
            refused.append([error.key, error.message])
    print(json.dumps({"refused": refused, "found": {
        entity: {
            "values": row.values,
            "age_hours": None if row.observed_at is None
            else (now - row.observed_at).total_seconds() / 3600,
        }
        for entity, row in found.items()
    }}))
    """
)


@pytest.fixture
def feast_python() -> Path:
    if os.environ.get(SKIP_ENV) == "skip":
        pytest.skip(f"Feast tests skipped ({SKIP_ENV}=skip)")
    if not FEAST_PYTHON.exists():
        pytest.fail(
            f"no Feast environment at {FEAST_PYTHON.parent.parent}: run scripts/feast-env "
            f"(scripts/test does), or set {SKIP_ENV}=skip"
        )
    return FEAST_PYTHON


@pytest.mark.slow
def test_feast_online_features_by_entity_id(feast_python: Path, tmp_path: Path) -> None:
    for name, text in REPO.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    done = subprocess.run(
        [str(feast_python), "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "FEAST_USAGE": "False"},
    )
    assert done.returncode == 0, done.stderr[-4000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    found = answer["found"]
    assert set(found) == {"C-1", "C-2"}  # an entity Feast does not know is not found
    assert found["C-2"]["values"] == {"tenure_months": 40, "plan": "premium"}
    assert 2.9 < found["C-1"]["age_hours"] < 3.1
    # the probe: features that are not in the registry can never work
    [(key, no_feature), (_, no_view)] = answer["refused"]
    assert key == "columns"
    assert "the feature view 'customer_stats' has no feature 'nope'" in no_feature
    assert "Feast has no feature view 'no_view'" in no_view
