"""The demo's next model: version 2 registered and in shadow before the demo's decisions, so
each decision is scored by both; the comparison printed with its verdict; a second run changes
nothing it did the first time."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from doorstep.cli.demo_rollout import NEXT_VERSION, compare_next_model, shadow_next_model
from doorstep.examples.churn import generate_customers, train_model
from doorstep.services.apps.examples import decide_sample
from doorstep.services.apps.loading import load_app
from doorstep.store import open_store

pytestmark = pytest.mark.slow


def test_the_next_version_shadows_the_demo_decisions_and_is_compared(
    churn_app: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DOORSTEP_DATABASE_URL", raising=False)
    retrained = train_model(generate_customers(2_000, seed=8), trees=20, seed=8)
    retrained.save_model(str(churn_app / "model-v2.lgb.txt"))  # type: ignore[attr-defined]
    app = load_app(churn_app / "doorstep.yaml")
    console = Console(record=True, width=200)
    staged = shadow_next_model(console, app, churn_app)
    assert staged.shadow is not None and staged.shadow.model_version == NEXT_VERSION
    assert staged.model_version == app.model_version  # the champion still decides
    assert "version 2 (model-v2.lgb.txt" in console.export_text()
    again = shadow_next_model(Console(record=True), app, churn_app)  # a second demo run
    assert again.shadow is not None and again.shadow.model_version == NEXT_VERSION

    with open_store() as store:
        decide_sample(staged, store, churn_app / "customers.parquet", count=60)
        stages = {r["version"]: r["stage"] for r in store.model_versions("churn")}
        assert stages == {app.model_version: "champion", NEXT_VERSION: "shadow"}
        (shadow,) = store.shadow_counts("churn")
        assert shadow.model_version == NEXT_VERSION and shadow.decisions == 60
        assert {c.model_version for c in store.version_counts("churn")} == {app.model_version}
        kept = [r["path"] for r in store.model_versions("churn")]
        assert all(p and Path(p).is_file() for p in kept)  # both kept, content-addressed

    compare_next_model(Console(record=True), app)
    out = " ".join(capsys.readouterr().out.split())
    assert f"champion {app.model_version} against 2 (shadow)" in out
    assert "60 shadow rows" in out and "Verdict:" in out
