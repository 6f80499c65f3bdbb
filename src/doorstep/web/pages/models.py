"""The models page (``GET /models``): per app its versions and stages, the pending promotion
with its approvals, the owner and the revalidation due date, and the champion against its
challenger on live outcomes. Owners and admins request a promotion, approve or withdraw it, roll
back, and stop the canary or the shadow (``POST /apps/{app}/models/{verb}``), with the key they
signed in with as the person acting: the changes are :mod:`doorstep.services.rollout`'s (the
API's and the CLI's), audited alike; four eyes and the rest of the rules are theirs.

Every form carries the app's stage generation and the pending promotion it was shown with: a
page opened before someone else changed them is refused (409) and changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from fastapi import Request
from starlette.responses import RedirectResponse, Response

from doorstep.core.stats.intervals import Interval
from doorstep.errors import ConflictError, DoorstepError, NotFoundError
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.rollout import promotion, stages
from doorstep.services.rollout.compare import compare_modes
from doorstep.services.rollout.compare_report import Comparison
from doorstep.services.rollout.views import model_stages, models_view
from doorstep.web.auth import actor_of
from doorstep.web.pages.access import form_of
from doorstep.web.pages.templating import render
from doorstep.web.problems import status_of
from doorstep.web.service import DecisionService

__all__ = ["VERBS", "change", "models_page"]

VERBS = {
    "promote": "Promotion requested",
    "approve": "Promotion approved",
    "withdraw": "Promotion withdrawn",
    "rollback": "Rolled back",
    "stop-canary": "Canary stopped",
    "stop-shadow": "Shadow stopped",
}
"""What a form may do, and the banner shown after it was done."""

HEADLINE = {"binary": "auc", "regression": "mae", "multiclass": "accuracy"}


@dataclass(frozen=True)
class Side:
    """One side of the comparison as the page shows it."""

    version: str
    role: str
    decisions: int
    labelled: int
    metric: Interval | None


@dataclass(frozen=True)
class Shown:
    """One comparison as the page shows it: the champion against a shadow, or a canary."""

    comparison: Comparison
    metric: str
    sides: list[Side]


@dataclass(frozen=True)
class AppModels:
    """One app's section of the page."""

    name: str
    owner: str
    serving: str | None
    versions: list[dict[str, Any]]
    generation: int
    pending: dict[str, Any] | None
    governance: dict[str, Any]
    revalidation_due: datetime | None
    overdue: bool
    comparisons: list[Shown]
    """The default comparison first, then the other mode's when the range holds both a
    shadow's rows and a canary's decisions (``doorstep models compare --mode``)."""
    compare_error: str

    @property
    def promotable(self) -> list[str]:
        return [v["version"] for v in self.versions if v["stage"] != "champion"]

    def running(self, stage: str) -> dict[str, Any] | None:
        return next((v for v in self.versions if v["stage"] == stage), None)


def _app_models(service: DecisionService, app: LoadedApp, now: datetime) -> AppModels:
    store = service.store
    rows, generation = model_stages(store, app.name)
    view = models_view(store, app.spec, serving=app.model_version, now=now)
    revalidation = view["governance"]["revalidation"]
    champion = stages.champion_of(rows)
    found: list[Comparison] = []
    compare_error = ""
    if champion is not None:
        try:
            found = compare_modes(app.spec, store, champion=champion["version"], now=now)
        except DoorstepError as exc:  # outcomes not readable, a range with nothing: say so
            compare_error = exc.message
    default = HEADLINE.get(app.spec.model.task, "auc")
    shown = [_shown(c, default) for c in found if c.challenger is not None]
    return AppModels(
        name=app.name,
        owner=app.spec.app.owner,
        serving=app.model_version,
        versions=rows,
        generation=generation,
        pending=promotion.pending_promotion(store, app.name),
        governance=view["governance"],
        revalidation_due=None
        if revalidation is None
        else datetime.fromisoformat(revalidation["due"]),
        overdue=bool(revalidation and revalidation["overdue"]),
        comparisons=shown,
        compare_error=compare_error,
    )


def _shown(comparison: Comparison, metric: str) -> Shown:
    """The comparison's sides on its headline metric (``metric`` when it measured none)."""
    if comparison.difference is not None:
        metric = comparison.difference.metric
    sides = []
    for side in (comparison.champion, comparison.challenger):
        if side is None:
            continue
        quality = side.quality
        measured = quality.metric(metric) if quality is not None else None  # type: ignore[arg-type]
        sides.append(Side(side.version, side.role, side.decisions, side.labelled, measured))
    return Shown(comparison, metric, sides)


async def models_page(request: Request) -> Response:
    done = request.query_params.get("done", "")
    return await show(request, done=VERBS.get(done, ""))


async def show(request: Request, *, error: DoorstepError | None = None, done: str = "") -> Response:
    """The page; after a refused change (``error``), with its message."""
    service: DecisionService = request.app.state.service
    now = datetime.now(UTC)

    def load() -> list[AppModels]:
        return [_app_models(service, app, now) for app in service.registry]

    apps = await anyio.to_thread.run_sync(load)
    return render(
        request,
        "models.html",
        {"title": "Models", "apps": apps, "error": error, "done": done},
        status=200 if error is None else status_of(error),
    )


def _fresh(service: DecisionService, app: str, form: dict[str, str]) -> None:
    """Refuse a form from a page that showed the app's stages or its pending promotion as
    they no longer are."""
    _, generation = model_stages(service.store, app)
    pending = promotion.pending_promotion(service.store, app)
    shown_generation = form.get("generation", "")
    if shown_generation != str(generation):
        raise ConflictError(
            f"The stages of app {app!r} changed since this page was opened (stage change "
            f"{generation}; the page showed {shown_generation or 'none'}). Nothing was changed: "
            "the page below shows them as they are now; do it again if it is still right."
        )
    if (pending["id"] if pending else "") != form.get("promotion", ""):
        now_text = f"version {pending['version']!r} is pending" if pending else "none is pending"
        raise ConflictError(
            f"The promotion requests of app {app!r} changed since this page was opened "
            f"({now_text}). Nothing was changed: the page below shows them as they are now."
        )


async def change(request: Request, app: str, verb: str) -> Response:
    """Run one of :data:`VERBS` for ``app`` as the signed-in key, then back to the page."""
    service: DecisionService = request.app.state.service
    if verb not in VERBS:
        raise NotFoundError(f"The models page has no action {verb!r}: {', '.join(VERBS)}.")
    loaded = service.registry.get(app)
    form = await form_of(request)
    caller = stages.Caller(actor_of(request), request.state.key)
    reason = form.get("reason", "")
    version = form.get("version", "")
    store, spec, name = service.store, loaded.spec, loaded.name

    def run() -> None:
        _fresh(service, name, form)
        if verb == "promote":
            promotion.request_promotion(store, spec, version, caller=caller, reason=reason)
        elif verb == "approve":
            promotion.approve_promotion(store, spec, version, caller=caller, reason=reason)
        elif verb == "withdraw":
            promotion.withdraw_promotion(store, name, version, caller=caller, reason=reason)
        elif verb == "rollback":
            stages.rollback(store, name, caller=caller, reason=reason)
        elif verb == "stop-canary":
            stages.stop_canary(store, name, caller=caller, reason=reason)
        else:
            stages.stop_shadow(store, name, caller=caller, reason=reason)
        service.live.refresh(store)  # served by this process before the page shows it

    try:
        await anyio.to_thread.run_sync(run)
    except DoorstepError as exc:
        if status_of(exc) == 500:
            raise
        return await show(request, error=exc)
    return RedirectResponse(f"/models?done={verb}#app-{name}", status_code=303)
