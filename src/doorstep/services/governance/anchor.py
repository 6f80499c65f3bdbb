"""Exporting the audit chain's head on a schedule, so that a copy of it exists outside the
database: an app's ``audit.anchor`` (``every``, and optionally a ``connector``).

The dispatcher of ``doorstep serve`` and of ``doorstep worker`` ticks a :class:`HeadExporter`
as it loops. For each app, once per slot (slots start at whole multiples of ``every``, UTC), it
reads the head and records the export in the store: an ``audit.anchored`` event and, with a
connector, a delivery of the head to it (delivered and retried like any other). The store
records each app's slot once, whichever process gets there first (the check runs under the
chain's lock), and only that process logs the head on ``doorstep.audit``. Later, ``doorstep
audit verify --expect SEQ:HASH`` checks that the exported head is still on the chain.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from doorstep.core.spec.audit import AnchorSpec
from doorstep.store.canonical import iso
from doorstep.store.protocols import AuditStore

__all__ = ["HeadExporter", "anchor_key", "anchor_message", "anchor_slot"]

logger = logging.getLogger("doorstep.audit")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def anchor_slot(every: timedelta, now: datetime) -> datetime:
    """The start of the slot ``now`` falls in: the latest whole multiple of ``every`` (UTC)."""
    return _EPOCH + every * ((now - _EPOCH) // every)


def anchor_key(app: str, slot: datetime) -> str:
    """The export's key, one per app and slot (also its delivery's key)."""
    return f"audit-anchor:{app}:{slot.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def anchor_message(app: str, head: tuple[int, str], now: datetime) -> dict[str, Any]:
    """What a connector gets: the head as ``payload`` (and template ``context``) and as a
    ``text`` for people."""
    seq, digest = head
    check = f"doorstep audit verify --expect {seq}:{digest}"
    payload = {
        "kind": "audit.head",
        "app": app,
        "seq": seq,
        "hash": digest,
        "at": iso(now),
        "check": check,
    }
    text = (
        f"doorstep audit head ({app}): event {seq}, hash {digest}\n"
        f"Keep this copy. To check later that the audit trail still holds it, run: {check}"
    )
    return {"context": {**payload, "action": "audit_anchor"}, "payload": payload, "text": text}


class HeadExporter:
    """Exports the head for each app of ``anchors`` (name and ``audit.anchor``) once per slot;
    :meth:`tick` costs nothing between slots."""

    def __init__(
        self,
        store: AuditStore,
        anchors: Sequence[tuple[str, AnchorSpec]],
        *,
        actor: str,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.anchors = list(anchors)
        self.actor = actor
        self.clock = clock or (lambda: datetime.now(UTC))
        self._done: dict[str, datetime] = {}

    def tick(self) -> list[tuple[str, int, str]]:
        """Export what is due now; returns the exports this call recorded (app, seq, hash)."""
        made: list[tuple[str, int, str]] = []
        now = self.clock()
        for app, anchor in self.anchors:
            slot = anchor_slot(anchor.interval, now)
            if self._done.get(app) == slot:
                continue
            head = self.store.audit_head()
            if head is not None and self.store.record_audit_anchor(
                app,
                anchor_key(app, slot),
                head,
                connector=anchor.connector,
                message=anchor_message(app, head, now),
                actor=self.actor,
                now=now,
            ):
                made.append((app, *head))
                logger.info(
                    "audit head seq=%d hash=%s app=%s slot=%s to=%s",
                    head[0],
                    head[1],
                    app,
                    f"{slot.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}",
                    anchor.connector or "log",
                    extra={"audit_head": {"app": app, "seq": head[0], "hash": head[1]}},
                )
            self._done[app] = slot
        return made
