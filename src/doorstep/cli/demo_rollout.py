"""The demo's next model: a retrained version registered and put in shadow before the demo's
decisions are made (so it scores each of them beside the champion, acting on none), and its
comparison with the champion once the outcomes are in."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from doorstep.services.apps.loading import LoadedApp
from doorstep.store.home import DEFAULT_HOME

__all__ = ["NEXT_VERSION", "compare_next_model", "shadow_next_model"]

NEXT_VERSION = "2"
ACTOR = "doorstep demo"


def shadow_next_model(console: Console, app: LoadedApp, directory: Path) -> LoadedApp:
    """Train version 2 on newer customers (once), register it and start it in shadow; the app
    as its stages now say (the champion deciding, version 2 scoring beside it)."""
    from doorstep.examples.churn import generate_customers, train_model
    from doorstep.services.governance.versions import model_versions
    from doorstep.services.rollout.files import MODELS_FOLDER
    from doorstep.services.rollout.register import register_spec_model, register_version
    from doorstep.services.rollout.serving import staged_app
    from doorstep.services.rollout.stages import Caller, start_shadow
    from doorstep.store import open_store
    from doorstep.store.engine import store_home

    model = directory / "model-v2.lgb.txt"
    if not model.exists():
        with console.status("Training the next model version on newer customers…"):
            newer = generate_customers(20_000, seed=8)
            train_model(newer, trees=120, seed=8).save_model(str(model))  # type: ignore[attr-defined]
    kept = store_home(None, DEFAULT_HOME) / MODELS_FOLDER
    with open_store() as store:
        register_spec_model(app, store, actor=ACTOR, models=kept)
        register_version(
            app, store, model, version=NEXT_VERSION, models=kept, actor=ACTOR,
            notes="retrained on newer customers",
        )  # fmt: skip
        stages = {r["version"]: r["stage"] for r in model_versions(store, app.name)}
        if stages.get(NEXT_VERSION) not in ("shadow", "champion"):
            start_shadow(
                store, app.name, NEXT_VERSION, caller=Caller(ACTOR),
                reason="the demo tries the retrained model beside the champion",
            )  # fmt: skip
        staged = staged_app(app, store)
    console.print(
        f"\n[bold]The next model[/]: version {NEXT_VERSION} ({model.name}, retrained on newer "
        f"customers) is registered and in [bold]shadow[/]: it scores every decision beside the "
        f"champion ({app.model_version}), is stored with it, and never acts. "
        f"`doorstep models list {app.name}` shows the stages.",
        highlight=False,
        soft_wrap=True,
    )
    return staged


def compare_next_model(console: Console, app: LoadedApp) -> None:
    """The champion against the shadow on the outcomes just imported, with the verdict."""
    from doorstep.cli import model_reports_render as render
    from doorstep.services.rollout.compare import compare_versions
    from doorstep.store import open_store

    with open_store() as store:
        found = compare_versions(
            app.spec, store, champion=app.model_version, challenger=NEXT_VERSION, window="day"
        )
    render.comparison(found, as_json=False)
    console.print(
        f"Again: `doorstep models compare {app.name}`; before promoting, `doorstep models "
        f"backtest {app.name} --version {NEXT_VERSION}` replays every stored decision through "
        f"it. Promotion takes two people: `doorstep models promote {app.name} --version "
        f"{NEXT_VERSION}` by one key, `approve` by another (owner or admin); `doorstep models "
        f"rollback {app.name}` undoes it at once (see docs/rollout.md).\n",
        highlight=False,
        soft_wrap=True,
    )
