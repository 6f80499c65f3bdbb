"""``doorstep serve``: the decision API on uvicorn. :func:`open_server` opens the store, makes
the first admin key (on a store that has no key yet) and builds the API; :func:`run_server`
serves it, in this process or in ``workers`` processes that each build it again from the
environment (:func:`~doorstep.web.factory.app_from_env`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from doorstep.store.protocols import StoreContract
from doorstep.web.settings import ServeSettings

__all__ = ["Server", "local_url", "open_server", "run_server"]


@dataclass(frozen=True)
class Server:
    """The API built for ``specs``, on the store at ``db``, ready to serve."""

    app: FastAPI
    store: StoreContract
    specs: list[Path]
    db: str | None
    settings: ServeSettings
    admin_key: str | None
    """The secret of the admin key made on this start (shown once), or ``None``."""

    @property
    def names(self) -> str:
        """The apps served, comma-separated."""
        return ", ".join(self.app.state.service.registry.apps)


def local_url(host: str, port: int) -> str:
    """Where this machine reaches a server listening on ``host`` and ``port``."""
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"


def open_server(specs: list[Path], db: str | None, settings: ServeSettings) -> Server:
    """Open the store, make the first admin key if it has no key, and build the API."""
    from doorstep.services.governance.keys import ensure_admin_key
    from doorstep.store import open_store
    from doorstep.web.factory import build_app

    store = open_store(db, pool_size=settings.db_pool_size)
    secret = ensure_admin_key(store)
    return Server(build_app(specs, store, settings), store, specs, db, settings, secret)


def run_server(
    server: Server, *, host: str, port: int, workers: int = 1, access_log: bool = False
) -> None:
    """Serve until stopped: this process's API, or ``workers`` processes' (each its own)."""
    import uvicorn

    from doorstep.web.factory import export_env

    if workers == 1:
        uvicorn.run(server.app, host=host, port=port, access_log=access_log, log_level="info")
        return
    export_env(server.specs, server.db, server.settings)
    uvicorn.run(
        "doorstep.web.factory:app_from_env",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        access_log=access_log,
        log_level="info",
    )
