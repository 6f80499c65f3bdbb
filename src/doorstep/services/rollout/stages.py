"""Stage changes that one person may make at once: rollback to the previous champion, a canary
started, resized or stopped, a shadow started or stopped. Each is audited with who and why;
promotion to champion needs more eyes (:mod:`.promotion`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from doorstep.errors import (
    AuthError,
    ConflictError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
)
from doorstep.store.protocols import ApiKey, KeyStore, ModelVersionStore, Role, StageChange

__all__ = [
    "OPERATORS",
    "Caller",
    "caller_of_key",
    "champion_of",
    "champion_version",
    "rollback",
    "start_canary",
    "start_shadow",
    "stop_canary",
    "stop_shadow",
    "version_of",
]

OPERATORS: frozenset[Role] = frozenset({"owner", "admin"})
"""Roles that may change stages, request and approve promotions."""


@dataclass(frozen=True)
class Caller:
    """Who asks: the audit trail's actor and, from the API or ``--key``, the key."""

    actor: str
    key: ApiKey | None = None

    def require_operator(self, what: str) -> ApiKey:
        """The caller's key, which must be of role owner or admin, to do ``what``."""
        if self.key is None:
            raise PermissionDeniedError(
                f"To {what} you need an API key of role owner or admin: pass --key (or set "
                "DOORSTEP_API_KEY), or call the API with it."
            )
        if self.key.role not in OPERATORS:
            raise PermissionDeniedError(
                f"A {self.key.role!r} key may not {what}; roles allowed: admin, owner."
            )
        return self.key


def caller_of_key(store: KeyStore, secret: str | None, *, actor: str) -> Caller:
    """The caller holding the API key ``secret`` (``None``: ``actor``, with no key)."""
    if secret is None:
        return Caller(actor)
    key = store.authenticate(secret.strip())
    if key is None:
        raise AuthError("The API key is unknown or revoked. Create one with 'doorstep keys'.")
    return Caller(f"key:{key.name}", key)


def version_of(rows: list[dict[str, Any]], app: str, version: str) -> dict[str, Any]:
    """The row of ``version``; :class:`NotFoundError` naming the versions there are."""
    for row in rows:
        if row["version"] == version:
            return row
    known = ", ".join(repr(r["version"]) for r in rows) or "none"
    raise NotFoundError(
        f"App {app!r} has no model version {version!r}; versions registered: {known}. "
        f"Register it with 'doorstep models register FILE --app {app} --version {version}'."
    )


def champion_of(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((r for r in rows if r["stage"] == "champion"), None)


def champion_version(store: ModelVersionStore, app: str) -> str | None:
    """The version the store's stages make ``app``'s champion (``None`` before any)."""
    row = champion_of(store.model_versions(app))
    return None if row is None else str(row["version"])


def rollback(store: ModelVersionStore, app: str, *, caller: Caller, reason: str) -> tuple[str, str]:
    """Make the previous champion the champion again, at once; the current one is retired.
    Returns ``(from_version, to_version)``."""
    if caller.key is not None:
        caller.require_operator("roll back a model")
    rows, generation = store.model_stages(app)
    current = champion_of(rows)
    if current is None:
        raise ConflictError(f"App {app!r} has no champion to roll back from.")
    registered = {r["version"] for r in rows}
    champions = [
        c["version"] for c in store.model_stage_history(app) if c["to_stage"] == "champion"
    ]
    previous = next(
        (v for v in reversed(champions) if v != current["version"] and v in registered), None
    )
    if previous is None:
        raise ConflictError(
            f"App {app!r} has had no champion before version {current['version']!r}: there is "
            "nothing to roll back to."
        )
    changes = [StageChange(current["version"], "retired"), StageChange(previous, "champion")]
    store.change_model_stages(
        app, changes, actor=caller.actor, reason=_reason(reason, "rollback"), expect=generation
    )
    return current["version"], previous


def start_canary(
    store: ModelVersionStore,
    app: str,
    version: str,
    share: float,
    *,
    caller: Caller,
    reason: str,
) -> None:
    """Let ``version`` decide ``share`` (0 < share ≤ 0.5) of the entities; a canary running
    already (another version) goes back to ``candidate``; the same version changes share."""
    if caller.key is not None:
        caller.require_operator("start a canary")
    if not 0 < share <= 0.5:
        raise InputError(
            f"A canary's share must be above 0 and at most 50 percent; got {share * 100:g}. "
            "To give it all entities, promote it."
        )
    rows, generation = store.model_stages(app)
    row = version_of(rows, app, version)
    if row["stage"] == "champion":
        raise ConflictError(f"Version {version!r} is the champion of app {app!r} already.")
    changes = [
        StageChange(r["version"], "candidate")
        for r in rows
        if r["stage"] == "canary" and r["version"] != version
    ]
    changes.append(StageChange(version, "canary", share))
    store.change_model_stages(
        app, changes, actor=caller.actor, reason=_reason(reason, "canary"), expect=generation
    )


def stop_canary(store: ModelVersionStore, app: str, *, caller: Caller, reason: str) -> str:
    """The canary goes back to ``candidate``: the champion decides every entity again."""
    return _stop(store, app, "canary", caller=caller, reason=reason)


def start_shadow(
    store: ModelVersionStore, app: str, version: str, *, caller: Caller, reason: str
) -> None:
    """``version`` scores every request beside the champion; its results are kept, never
    acted on. A shadow running already (another version) goes back to ``candidate``."""
    if caller.key is not None:
        caller.require_operator("start a shadow")
    rows, generation = store.model_stages(app)
    row = version_of(rows, app, version)
    if row["stage"] in ("champion", "shadow"):
        raise ConflictError(f"Version {version!r} of app {app!r} is the {row['stage']} already.")
    changes = [StageChange(r["version"], "candidate") for r in rows if r["stage"] == "shadow"]
    changes.append(StageChange(version, "shadow"))
    store.change_model_stages(
        app, changes, actor=caller.actor, reason=_reason(reason, "shadow"), expect=generation
    )


def stop_shadow(store: ModelVersionStore, app: str, *, caller: Caller, reason: str) -> str:
    """The shadow goes back to ``candidate``."""
    return _stop(store, app, "shadow", caller=caller, reason=reason)


def _stop(store: ModelVersionStore, app: str, stage: str, *, caller: Caller, reason: str) -> str:
    if caller.key is not None:
        caller.require_operator(f"stop a {stage}")
    rows, generation = store.model_stages(app)
    running = next((r for r in rows if r["stage"] == stage), None)
    if running is None:
        raise ConflictError(f"App {app!r} has no {stage} running.")
    store.change_model_stages(
        app,
        [StageChange(running["version"], "candidate")],
        actor=caller.actor,
        reason=_reason(reason, f"{stage} stopped"),
        expect=generation,
    )
    return str(running["version"])


def _reason(reason: str, default: str) -> str:
    return reason.strip() or default
