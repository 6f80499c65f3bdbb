"""API keys, for owners and admins: ``GET /keys``,
``POST /keys`` (create; the secret is shown once), ``POST /keys/{id}/revoke`` and
``POST /keys/{id}/role`` (another role; the key's page sessions end).

An owner manages every key but admin keys: creating, revoking or changing one, or making a key
an admin, needs an admin."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import Request
from starlette.responses import RedirectResponse, Response

from doorstep.errors import (
    ConflictError,
    DoorstepError,
    NotFoundError,
    PermissionDeniedError,
    RecordError,
    RecordsInvalidError,
)
from doorstep.services.governance.keys import (
    change_key_role,
    create_key,
    get_key,
    list_keys,
    name_taken,
    revoke_key,
)
from doorstep.store.keys import ROLES
from doorstep.web.auth import actor_of
from doorstep.web.pages.access import form_of
from doorstep.web.pages.templating import render
from doorstep.web.problems import status_of

__all__ = ["change_role", "create", "keys_page", "revoke"]


def _grantable(role: str) -> list[str]:
    return [r for r in ROLES if role == "admin" or r != "admin"]


async def _keys(
    request: Request,
    *,
    created: tuple[Any, str] | None = None,
    error: DoorstepError | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    store = request.app.state.service.store
    keys = await anyio.to_thread.run_sync(list_keys, store)
    return render(
        request,
        "keys.html",
        {
            "title": "API keys",
            "keys": keys,
            "roles": _grantable(request.state.key.role),
            "created": created,
            "error": error,
            "form": form or {},
        },
        status=200 if error is None else status_of(error),
    )


async def keys_page(request: Request) -> Response:
    return await _keys(request)


async def create(request: Request) -> Response:
    store = request.app.state.service.store
    form = await form_of(request)
    name, role = form.get("name", "").strip(), form.get("role", "")
    try:
        if not name:
            raise RecordsInvalidError(
                "A key needs a name: who or what uses it (e.g. 'ana' or 'crm').",
                [RecordError.of_field("name", "required", "name is required")],
            )
        if role not in _grantable(request.state.key.role):
            raise PermissionDeniedError(
                f"A {request.state.key.role!r} key may not create {role!r} keys; roles it may "
                f"create: {', '.join(_grantable(request.state.key.role))}."
            )

        def make() -> tuple[Any, str]:
            taken = name_taken(store, name)
            if taken is not None:
                raise ConflictError(
                    f"An active key is named {taken.name!r} already ({taken.role}, created "
                    f"{taken.created_at:%Y-%m-%d}): give this one another name, or revoke that "
                    "one first. Names tell keys apart in the audit trail."
                )
            return create_key(store, name, role, actor=actor_of(request))

        made = await anyio.to_thread.run_sync(make)
    except DoorstepError as exc:
        if status_of(exc) == 500:
            raise
        return await _keys(request, error=exc, form=form)
    return await _keys(request, created=made)


async def revoke(request: Request, key_id: str) -> Response:
    store = request.app.state.service.store
    try:
        target = await anyio.to_thread.run_sync(get_key, store, key_id)
        if target is not None and target.role == "admin" and request.state.key.role != "admin":
            raise PermissionDeniedError("Only an admin may revoke an admin key.")
        await anyio.to_thread.run_sync(lambda: revoke_key(store, key_id, actor=actor_of(request)))
    except DoorstepError as exc:
        if status_of(exc) == 500:
            raise
        return await _keys(request, error=exc)
    return RedirectResponse("/keys", status_code=303)


async def change_role(request: Request, key_id: str) -> Response:
    """Give a key another role; whoever is signed in with it signs in again."""
    store = request.app.state.service.store
    role = (await form_of(request)).get("role", "")
    mine = request.state.key.role
    try:
        target = await anyio.to_thread.run_sync(get_key, store, key_id)
        if target is None:
            raise NotFoundError(f"No API key {key_id!r}.")
        if target.role == "admin" and mine != "admin":
            raise PermissionDeniedError("Only an admin may change an admin key's role.")
        if role not in ROLES:
            message = f"role must be one of {', '.join(ROLES)}; got {role!r} instead"
            raise RecordsInvalidError(
                f"The key's new {message}.",
                [RecordError.of_field("role", "allowed_values", message)],
            )
        if role not in _grantable(mine):
            raise PermissionDeniedError(
                f"A {mine!r} key may not give keys the role {role!r}; roles it may give: "
                f"{', '.join(_grantable(mine))}."
            )
        await anyio.to_thread.run_sync(
            lambda: change_key_role(store, key_id, role, actor=actor_of(request))
        )
    except DoorstepError as exc:
        if status_of(exc) == 500:
            raise
        return await _keys(request, error=exc)
    return RedirectResponse("/keys", status_code=303)
