"""The outbox for operators: list and read deliveries, re-drive dead ones, cancel, and enable a
connector that a target's HTTP 410 disabled (``doorstep deliveries …``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from doorstep.core.suggest import did_you_mean
from doorstep.errors import InputError, NotFoundError
from doorstep.store.protocols import (
    ConnectorState,
    DeliveryAdminStore,
    DeliveryChanges,
    DeliveryPage,
    DeliveryQuery,
)
from doorstep.types import DELIVERY_STATES, Delivery, DeliveryState

__all__ = [
    "connector_states",
    "delivery_counts",
    "cancel_deliveries",
    "enable_connector",
    "get_delivery",
    "list_deliveries",
    "retry_dead",
    "retry_deliveries",
]

CHUNK = 500
"""Ids per store call (and per audit event) when many deliveries change at once."""
MAX_REASON = 2_000
"""Longest reason a retry or a cancel records."""


def list_deliveries(
    store: DeliveryAdminStore,
    *,
    app: str | None = None,
    state: str | None = None,
    connector: str | None = None,
    decision_id: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
    attempts: bool = False,
) -> DeliveryPage:
    """A page of deliveries, newest first; with ``attempts``, each with its attempts."""
    query = DeliveryQuery(
        app=app,
        state=_state(state),
        connector=connector,
        decision_id=decision_id,
        cursor=cursor,
        limit=limit,
        attempts=attempts,
    )
    return store.list_deliveries(query)


def get_delivery(store: DeliveryAdminStore, delivery_id: str) -> Delivery:
    """A delivery with its attempts; :class:`NotFoundError` when there is none."""
    info = store.get_delivery(delivery_id)
    if info is None:
        raise NotFoundError(
            f"There is no delivery {delivery_id!r}; `doorstep deliveries list` (or GET "
            "/v1/apps/{app}/deliveries) shows the ids."
        )
    return info


def retry_deliveries(
    store: DeliveryAdminStore, ids: Sequence[str], *, actor: str, reason: str | None = None
) -> DeliveryChanges:
    """Send ``dead`` or ``cancelled`` deliveries again, from a fresh cycle of attempts; the
    audit event records ``reason`` when given."""
    return _chunked(store.retry_deliveries, ids, actor, _reason(reason))


def retry_dead(
    store: DeliveryAdminStore, app: str, *, actor: str, reason: str | None = None
) -> DeliveryChanges:
    """Re-drive every ``dead`` delivery of ``app``."""
    ids: list[str] = []
    cursor = None
    while True:
        page = store.list_deliveries(
            DeliveryQuery(app=app, state="dead", cursor=cursor, limit=1000)
        )
        ids += [d.id for d in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    return retry_deliveries(store, ids, actor=actor, reason=reason)


def cancel_deliveries(
    store: DeliveryAdminStore, ids: Sequence[str], *, actor: str, reason: str | None = None
) -> DeliveryChanges:
    """Cancel ``held``, ``pending`` or ``dead`` deliveries (a ``sending`` one is in flight);
    the audit event records ``reason`` when given."""
    return _chunked(store.cancel_deliveries, ids, actor, _reason(reason))


def enable_connector(store: DeliveryAdminStore, app: str, connector: str, *, actor: str) -> bool:
    """Let the dispatcher send to a connector again; ``False`` when it was not disabled."""
    return store.enable_connector(app, connector, actor=actor)


def connector_states(store: DeliveryAdminStore, app: str | None = None) -> list[ConnectorState]:
    """The connectors the dispatcher no longer sends to (their target answered 410 Gone)."""
    return store.disabled_connectors(app)


def delivery_counts(store: DeliveryAdminStore, app: str | None = None) -> dict[str, int]:
    """Deliveries by state, every state present (zero when none)."""
    return store.delivery_counts(app)


def _chunked(
    change: Callable[..., DeliveryChanges],
    ids: Sequence[str],
    actor: str,
    reason: str | None,
) -> DeliveryChanges:
    unique = list(dict.fromkeys(ids))
    changed: list[str] = []
    skipped: dict[str, DeliveryState] = {}
    missing: list[str] = []
    for start in range(0, len(unique), CHUNK):
        part = change(unique[start : start + CHUNK], actor=actor, reason=reason)
        changed += part.changed
        skipped.update(part.skipped)
        missing += part.missing
    return DeliveryChanges(changed, skipped, missing)


def _reason(reason: str | None) -> str | None:
    """A reason as recorded: trimmed, ``None`` when blank; at most :data:`MAX_REASON`
    characters."""
    if reason is None or not reason.strip():
        return None
    text = " ".join(reason.split())
    if len(text) > MAX_REASON:
        raise InputError(
            f"The 'reason' of a retry or a cancel must be at most {MAX_REASON:,} characters. "
            f"Got {len(text):,} instead."
        )
    return text


def _state(state: str | None) -> DeliveryState | None:
    if state is None:
        return None
    if state not in DELIVERY_STATES:
        raise InputError(
            f"The 'state' filter must be one of {', '.join(DELIVERY_STATES)}. Got {state!r} "
            f"instead{did_you_mean(state, DELIVERY_STATES)}."
        )
    return state
