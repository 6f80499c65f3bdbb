"""The store: decisions, reviews, model versions, API keys and the audit chain, on SQLite (the
embedded default, under ``.doorstep/``) or PostgreSQL (by URL). See ``docs/store.md``.

The services and the web layer depend on :class:`StoreContract` alone; :func:`open_store`
returns the implementation.
"""

from __future__ import annotations

from doorstep.store.contract import (
    ApiKey,
    AuditReport,
    DecisionPage,
    DecisionQuery,
    DecisionRecord,
    RecordOutcome,
    RecordRequest,
    Role,
    StoreContract,
    Verdict,
)
from doorstep.store.migrate import upgrade
from doorstep.store.store import Store, open_store

__all__ = [
    "ApiKey",
    "AuditReport",
    "DecisionPage",
    "DecisionQuery",
    "DecisionRecord",
    "RecordOutcome",
    "RecordRequest",
    "Role",
    "Store",
    "StoreContract",
    "Verdict",
    "open_store",
    "upgrade",
]
