"""API keys and roles: who may call which route. Deny by default.

:data:`ROUTE_ROLES` is the single table from ``(method, route path)`` to the roles allowed, or
:data:`OPEN` for routes anyone may call. A route missing from the table answers 403 to
everyone (and a test fails when a route is added without an entry).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Final, Protocol

import anyio.to_thread
from fastapi import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from doorstep.errors import AuthError, PermissionDeniedError
from doorstep.services.governance.key_usage import KeyUsage
from doorstep.store.protocols import ApiKey, KeyStore, Role

__all__ = [
    "OPEN",
    "PII_ROLES",
    "ROUTE_ROLES",
    "AuthStore",
    "Authenticator",
    "GuardedRoute",
    "KeyGeneration",
    "actor_of",
    "authorize",
    "note_use",
]

OPEN: Final = "open"

_ALL: frozenset[Role] = frozenset({"admin", "owner", "reviewer", "viewer", "client"})
_READ: frozenset[Role] = frozenset({"admin", "owner", "reviewer", "viewer", "client"})
_STAFF: frozenset[Role] = frozenset({"admin", "owner", "reviewer", "viewer"})
_OPERATORS: frozenset[Role] = frozenset({"admin", "owner"})
_REVIEWERS: frozenset[Role] = frozenset({"admin", "owner", "reviewer"})

ROUTE_ROLES: dict[tuple[str, str], frozenset[Role] | str] = {
    ("GET", "/healthz"): OPEN,
    ("GET", "/readyz"): OPEN,
    ("GET", "/openapi.json"): OPEN,
    ("GET", "/docs"): OPEN,
    ("GET", "/metrics"): _OPERATORS,
    ("GET", "/v1/apps"): _STAFF,
    ("POST", "/v1/apps/{app}/decisions"): frozenset({"admin", "owner", "client"}),
    ("GET", "/v1/apps/{app}/decisions"): _READ,
    ("GET", "/v1/decisions/{decision_id}"): _ALL,
    ("POST", "/v1/decisions/{decision_id}/review"): frozenset({"admin", "owner", "reviewer"}),
    ("POST", "/v1/decisions/{decision_id}/review/undo"): _REVIEWERS,
    ("GET", "/v1/apps/{app}/deliveries"): _READ,
    ("GET", "/v1/apps/{app}/delivery-counts"): _READ,
    ("GET", "/v1/deliveries/{delivery_id}"): _READ,
    ("POST", "/v1/deliveries/{delivery_id}/retry"): _OPERATORS,
    ("POST", "/v1/deliveries/{delivery_id}/cancel"): _OPERATORS,
    ("POST", "/v1/apps/{app}/connectors/{connector}/enable"): _OPERATORS,
    ("POST", "/v1/apps/{app}/outcomes"): frozenset({"admin", "owner", "client"}),
    ("GET", "/v1/apps/{app}/monitoring"): _STAFF,
    ("GET", "/v1/apps/{app}/fairness"): _STAFF,
    ("POST", "/v1/apps/{app}/models/backtest"): _OPERATORS,
    ("GET", "/v1/apps/{app}/models/compare"): _STAFF,
    ("GET", "/v1/runs"): _STAFF,
    ("GET", "/v1/runs/{run_id}"): _STAFF,
    ("POST", "/v1/runs/{run_id}/resume"): _OPERATORS,
    ("GET", "/v1/streams"): _STAFF,
    ("GET", "/v1/streams/{stream}"): _STAFF,
    ("GET", "/v1/apps/{app}/models"): _STAFF,
    ("POST", "/v1/apps/{app}/models"): _OPERATORS,
    ("POST", "/v1/apps/{app}/models/{version}/promote"): _OPERATORS,
    ("POST", "/v1/apps/{app}/models/{version}/approve"): _OPERATORS,
    ("POST", "/v1/apps/{app}/models/{version}/withdraw"): _OPERATORS,
    ("POST", "/v1/apps/{app}/models/{version}/canary"): _OPERATORS,
    ("POST", "/v1/apps/{app}/models/{version}/shadow"): _OPERATORS,
    ("POST", "/v1/apps/{app}/rollback"): _OPERATORS,
    ("POST", "/v1/apps/{app}/canary/stop"): _OPERATORS,
    ("POST", "/v1/apps/{app}/shadow/stop"): _OPERATORS,
    # pages (doorstep.web.pages): a session cookie instead of a bearer key, CSRF on every form
    ("GET", "/sign-in"): OPEN,
    ("POST", "/sign-in"): OPEN,  # checks the sign-in form's own CSRF token
    ("POST", "/sign-out"): _STAFF,
    ("GET", "/"): _STAFF,
    ("GET", "/review"): _STAFF,
    ("GET", "/review/next"): _REVIEWERS,
    ("POST", "/review/next"): _REVIEWERS,
    ("GET", "/decisions/{decision_id}"): _STAFF,
    ("GET", "/decisions/{decision_id}/what-if"): _STAFF,
    ("POST", "/decisions/{decision_id}/claim"): _REVIEWERS,
    ("POST", "/decisions/{decision_id}/release"): _REVIEWERS,
    ("POST", "/decisions/{decision_id}/verdict"): _REVIEWERS,
    ("POST", "/decisions/{decision_id}/undo"): _REVIEWERS,
    # a form's address opened (a reload, a copied address): its page
    ("GET", "/sign-out"): _STAFF,
    ("GET", "/decisions/{decision_id}/claim"): _STAFF,
    ("GET", "/decisions/{decision_id}/release"): _STAFF,
    ("GET", "/decisions/{decision_id}/verdict"): _STAFF,
    ("GET", "/decisions/{decision_id}/undo"): _STAFF,
    ("GET", "/keys/{key_id}/revoke"): _OPERATORS,
    ("GET", "/keys/{key_id}/role"): _OPERATORS,
    ("GET", "/apps/{app}"): _STAFF,
    ("GET", "/apps/{app}/report"): _STAFF,
    ("GET", "/apps/{app}/monitoring-panel"): _STAFF,
    ("GET", "/apps/{app}/deliveries"): _STAFF,
    ("GET", "/apps/{app}/activity"): _STAFF,
    ("POST", "/deliveries/{delivery_id}/retry"): _OPERATORS,
    ("POST", "/deliveries/{delivery_id}/cancel"): _OPERATORS,
    ("GET", "/deliveries/{delivery_id}/retry"): _STAFF,
    ("GET", "/deliveries/{delivery_id}/cancel"): _STAFF,
    ("GET", "/models"): _STAFF,
    ("POST", "/apps/{app}/models/{verb}"): _OPERATORS,
    ("GET", "/apps/{app}/models/{verb}"): _STAFF,
    ("GET", "/keys"): _OPERATORS,
    ("POST", "/keys"): _OPERATORS,
    ("POST", "/keys/{key_id}/revoke"): _OPERATORS,
    ("POST", "/keys/{key_id}/role"): _OPERATORS,
}

PII_ROLES: frozenset[Role] = frozenset({"admin", "owner", "reviewer"})
"""Roles that see inputs marked ``pii: true`` or ``sensitive: true``; others get them masked."""


class AuthStore(KeyStore, Protocol):
    """What :class:`Authenticator` reads: the keys, their generation, and which database."""

    dialect: str


class KeyGeneration:
    """The store's key generation as the requests of one process see it: each request gets a
    value read after it arrived. On SQLite the read is a local file's, in microseconds, and runs
    inline; elsewhere it is a round trip, run in a thread and shared: requests that arrive while
    a read runs share the next one (never the running one, which may predate them)."""

    def __init__(self, read: Callable[[], int], *, inline: bool) -> None:
        self._read, self._inline = read, inline
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next: asyncio.Future[int] | None = None
        self._running: asyncio.Task[None] | None = None

    async def current(self) -> int:
        if self._inline:
            return self._read()
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (tests): nothing of the old one holds
            self._loop, self._next, self._running = loop, None, None
        future = self._next
        if future is None:
            future = self._next = loop.create_future()
            future.add_done_callback(_retrieved)
            if self._running is None:
                self._start(loop)
        return await asyncio.shield(future)

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        future, self._next = self._next, None
        assert future is not None
        self._running = loop.create_task(self._run(future))

    async def _run(self, future: asyncio.Future[int]) -> None:
        try:
            future.set_result(await anyio.to_thread.run_sync(self._read))
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - handed to the requests that wait for it
            future.set_exception(exc)
        finally:
            self._running = None
            if self._next is not None and self._loop is not None:
                self._start(self._loop)


def _retrieved(future: asyncio.Future[int]) -> None:
    if not future.cancelled():
        future.exception()  # seen, even when every request waiting for it went away


class Authenticator:
    """Checks bearer keys against the store. A verified key is kept in memory and trusted while
    the store's key generation (bumped in the transaction of every key revocation and role
    change) is the one it was verified at. The generation is read for every request, after the
    request arrived, so a key revoked or given another role is refused (or held to its new
    role) from the very next request on, by every server process sharing the store."""

    def __init__(self, store: AuthStore) -> None:
        self.store = store
        self._cache: dict[str, tuple[ApiKey, int]] = {}
        self.generation = KeyGeneration(store.key_generation, inline=store.dialect == "sqlite")

    async def authenticate(self, secret: str) -> ApiKey | None:
        digest = hashlib.sha256(secret.encode()).hexdigest()
        generation = await self.generation.current()  # read before the key: a change after
        cached = self._cache.get(digest)  # this read shows as another generation next time
        if cached is not None and cached[1] == generation:
            return cached[0]
        key = await anyio.to_thread.run_sync(self.store.authenticate, secret)
        if key is None:
            self._cache.pop(digest, None)
            return None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (key, generation)
        return key


def allowed_roles(method: str, path: str) -> frozenset[Role] | str | None:
    return ROUTE_ROLES.get((method, path))


async def authorize(request: Request) -> None:
    """App-wide dependency: authenticate the bearer key and check its role for this route."""
    if request.scope.get(AUTHORIZED):
        return  # checked already, before the body was read (web.guards.AuthorizedRoute)
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    rule = allowed_roles(request.method, path)
    if rule == OPEN:
        return
    if rule is None:
        raise PermissionDeniedError(
            f"{request.method} {path} has no entry in the route table, so nobody may call it."
        )
    check_access = getattr(route, "check_access", None)
    if check_access is not None and not isinstance(rule, str):  # a page: its session decides
        await check_access(request, rule)
        return
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise AuthError(
            "This route needs an API key: send 'Authorization: Bearer dsk_...'. Create one with "
            "'doorstep keys create --role client --name NAME'."
        )
    authenticator: Authenticator = request.app.state.authenticator
    key = await authenticator.authenticate(secret.strip())
    if key is None:
        raise AuthError("The API key is unknown or revoked. Create a new one with 'doorstep keys'.")
    if key.role not in rule:
        allowed = ", ".join(sorted(rule))
        raise PermissionDeniedError(
            f"A {key.role!r} key may not call {request.method} {path}; roles allowed: {allowed}."
        )
    request.state.key = key
    request.scope[AUTHORIZED] = True
    await note_use(request, key)


async def note_use(request: Request, key: ApiKey) -> None:
    """Record that ``key`` is used (at most once a minute per key and process: see
    :mod:`doorstep.services.governance.key_usage`)."""
    usage: KeyUsage | None = getattr(request.app.state, "key_usage", None)
    now = datetime.now(UTC)
    if usage is not None and usage.due(key.id, now):
        await anyio.to_thread.run_sync(usage.record, key.id, now)


AUTHORIZED: Final = "doorstep.authorized"
"""Set in the request's scope once :func:`authorize` let it through."""


class GuardedRoute(Route):
    """A plain Starlette route that checks the key and role as FastAPI routes do (FastAPI's
    app-wide :func:`authorize` dependency only runs for its own routes), for hot paths that
    skip FastAPI's per-request parameter solving."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[[Request], Awaitable[Response]],
        *,
        methods: list[str],
    ) -> None:
        async def guarded(request: Request) -> Response:
            await authorize(request)
            return await endpoint(request)

        super().__init__(path, guarded, methods=methods, name=endpoint.__name__)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self  # what authorize() and the metrics read the route template from
        await super().handle(scope, receive, send)


def actor_of(request: Request) -> str:
    """Who acts, for the audit trail: ``key:<name>`` of the authenticated key."""
    key: ApiKey | None = getattr(request.state, "key", None)
    return f"key:{key.name}" if key is not None else "anonymous"


def key_id_of(request: Request) -> str | None:
    """The id of the authenticated key (claims in the review queue are held by key)."""
    key: ApiKey | None = getattr(request.state, "key", None)
    return key.id if key is not None else None


def role_of(request: Request) -> str | None:
    """The role of the authenticated key (``None`` without one)."""
    key: ApiKey | None = getattr(request.state, "key", None)
    return key.role if key is not None else None


def sees_pii(request: Request) -> bool:
    key: ApiKey | None = getattr(request.state, "key", None)
    return key is not None and key.role in PII_ROLES
