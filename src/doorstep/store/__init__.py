"""The store: decisions, deliveries (the outbox), reviews, model versions, API keys and the audit
chain, on SQLite (the embedded default, under ``.doorstep/``) or PostgreSQL (by URL). See
``docs/store.md`` and ``docs/deliveries.md``.

The services and the web layer depend on :class:`StoreContract` alone; :func:`open_store`
returns the implementation. SQLAlchemy and Alembic load only when ``Store``, ``open_store`` or
``upgrade`` is first used, so commands that never touch the store start faster.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from doorstep.store.home import DEFAULT_HOME
from doorstep.store.protocols import (
    ApiKey,
    AttemptResult,
    AuditReport,
    ClaimedDelivery,
    ConnectorState,
    DecisionPage,
    DecisionQuery,
    DeliveryChanges,
    DeliveryPage,
    DeliveryQuery,
    DeliveryRecord,
    FinishRequest,
    RecordOutcome,
    RecordRequest,
    Role,
    StoreContract,
    Verdict,
)

if TYPE_CHECKING:
    from doorstep.store.migrate import upgrade
    from doorstep.store.store import Store, open_store

_LAZY = {
    "Store": "doorstep.store.store",
    "open_store": "doorstep.store.store",
    "upgrade": "doorstep.store.migrate",
}

__all__ = [
    "DEFAULT_HOME",
    "ApiKey",
    "AttemptResult",
    "FinishRequest",
    "AuditReport",
    "ClaimedDelivery",
    "ConnectorState",
    "DecisionPage",
    "DecisionQuery",
    "DeliveryChanges",
    "DeliveryPage",
    "DeliveryQuery",
    "DeliveryRecord",
    "RecordOutcome",
    "RecordRequest",
    "Role",
    "Store",
    "StoreContract",
    "Verdict",
    "open_store",
    "upgrade",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'doorstep.store' has no attribute {name!r}")
