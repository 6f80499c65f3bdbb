"""An app's activity feed (``GET /apps/{app}/activity``): who did what to the app, newest first,
from the audit chain: verdicts, deliveries retried or cancelled, model versions, connectors,
alerts, outcomes, and the API keys' changes. Each event in a sentence, with a link to the case
it is about."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import Request
from starlette.responses import Response

from doorstep.services.governance.audit import app_events
from doorstep.store.views import AppEvent
from doorstep.web.pages.templating import render

__all__ = ["activity_page", "event_sentence"]

PAGE_SIZE = 50


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def event_sentence(item: AppEvent) -> str:
    """What happened, in words (without who and when: the page shows them beside it)."""
    event, p = item.event, item.event.payload
    entity = item.entity_id or p.get("decision_id") or event.subject
    kind = event.kind
    if kind == "review.recorded":
        if p.get("verdict") == "override":
            return f"overrode the decision on {entity} to {p.get('final_action') or 'none'}"
        return f"approved the decision on {entity} ({p.get('final_action')})"
    if kind == "review.undone":
        done = "approval" if p.get("verdict") == "approve" else f"override ({p.get('action')})"
        return f"undid the {done} of {entity}: back in the review queue"
    if kind == "review.skipped":
        return f"skipped {entity}: back in the review queue"
    if kind in ("deliveries.retried", "deliveries.cancelled"):
        verb = "retried" if kind.endswith("retried") else "cancelled"
        count = int(p.get("count") or len(p.get("ids") or ()) or 1)
        what = f"the delivery of {entity}" if count == 1 else f"{count:,} deliveries"
        reason = f": {p['reason']}" if p.get("reason") else ""
        return f"{verb} {what}{reason}"
    if kind == "key.created":
        return f"created the API key {p.get('name')} ({p.get('role')})"
    if kind == "key.revoked":
        return f"revoked the API key {p.get('name')} ({p.get('role')})"
    if kind == "key.role_changed":
        return f"gave the API key {p.get('name')} the role {p.get('role')} (was {p.get('from')})"
    if kind.startswith("model_version."):
        return f"{kind.split('.', 1)[1].replace('_', ' ')} model version {p.get('version')}"
    if kind == "connector.disabled":
        return f"stopped sending to {event.subject.split('/', 1)[-1]}: its target answered 410"
    if kind == "connector.enabled":
        return f"enabled the connector {event.subject.split('/', 1)[-1]} again"
    if kind == "outcomes.recorded":
        return f"recorded {_plural(int(p.get('matched') or 0), 'outcome')}"
    if kind.startswith("alert."):
        return f"alert {kind.split('.', 1)[1]}: {event.subject.split(':', 1)[-1]}"
    return f"{kind.replace('.', ' ').replace('_', ' ')}: {event.subject}"


async def activity_page(request: Request, app: str) -> Response:
    service = request.app.state.service
    loaded = service.registry.get(app)
    text = request.query_params.get("before", "")
    before = int(text) if text.isdigit() else None
    page = await anyio.to_thread.run_sync(
        lambda: app_events(service.store, loaded.name, before=before, limit=PAGE_SIZE)
    )
    items: list[dict[str, Any]] = [
        {
            "seq": item.event.seq,
            "at": item.event.at,
            "actor": item.event.actor,
            "kind": item.event.kind,
            "sentence": event_sentence(item),
            "decision_id": item.decision_id,
        }
        for item in page.items
    ]
    return render(
        request,
        "activity.html",
        {
            "title": f"{loaded.name} activity",
            "app": loaded.name,
            "items": items,
            "older": page.before,
            "first_page": before is None,
        },
    )
