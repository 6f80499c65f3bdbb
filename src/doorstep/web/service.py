"""What the routes call: the registry, the store and one micro-batcher per app, wired once per
application instance (no globals)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from pathlib import Path

import anyio.to_thread

from doorstep.errors import DoorstepError
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.apps.registry import Registry
from doorstep.services.decide.features import FeatureLookup
from doorstep.services.decide.online import (
    OnlineRequest,
    OnlineResponse,
    body_digest,
    decide_requests,
    parse_records,
)
from doorstep.services.monitor.drift import ProfileCache
from doorstep.services.rollout.serving import LiveApps
from doorstep.store.protocols import StoreContract
from doorstep.web.batching import MicroBatcher
from doorstep.web.metrics import ServiceMetrics
from doorstep.web.settings import ServeSettings

__all__ = ["DecisionService"]

Result = OnlineResponse | DoorstepError


class DecisionService:
    def __init__(
        self,
        registry: Registry,
        store: StoreContract,
        settings: ServeSettings,
        metrics: ServiceMetrics,
    ) -> None:
        self.live = LiveApps(registry)
        """The apps served now, switched when model stages change (see services/rollout)."""
        self.store, self.settings, self.metrics = store, settings, metrics
        self.on_deliveries: Callable[[], None] | None = None
        """Called after deliveries were written (the dispatcher's ``wake``)."""
        self.batchers: dict[str, MicroBatcher[OnlineRequest, Result]] = {
            app.name: MicroBatcher(
                partial(self.run_current, app.name),
                max_batch=settings.max_batch,
                max_wait=settings.max_wait_ms / 1000,
                concurrency=settings.batch_concurrency,
                isolate=lambda exc: not isinstance(exc, DoorstepError),
            )
            for app in registry
        }
        self.profiles = ProfileCache(Path(settings.home) / "profiles")
        """Reference profiles for drift, built on first use per app and model version."""
        self.features: dict[str, FeatureLookup] = {}
        """Each app's feature sources (pooled connections), for apps with ``features``."""
        for app in registry:
            lookup = FeatureLookup.open(app.spec, app.root)
            if lookup is not None:
                lookup.observer = metrics.source_observer(app.name)
                self.features[app.name] = lookup

    @property
    def registry(self) -> Registry:
        """The apps served now: one snapshot; read it once per request."""
        return self.live.current

    def run_current(self, name: str, requests: Sequence[OnlineRequest]) -> list[Result]:
        """Decide a micro-batch with the app ``name`` as served when the batch starts."""
        return self.run(self.live.current.get(name), requests)

    def run(self, app: LoadedApp, requests: Sequence[OnlineRequest]) -> list[Result]:
        """Decide and record ``requests`` of ``app`` (in a worker thread)."""
        features = self.features.get(app.name)
        results, tally = decide_requests(app, self.store, requests, features=features)
        self.metrics.count(app.name, tally)
        if tally.deliveries:
            self.deliveries_written()
        return results

    def deliveries_written(self) -> None:
        """Wake the dispatcher (when it runs in this process): new deliveries are due."""
        if self.on_deliveries is not None:
            self.on_deliveries()

    async def decide(
        self,
        app_name: str,
        body: bytes,
        *,
        actor: str,
        explain: bool | None,
        idempotency_key: str | None,
        key_owner: str | None = None,
        decided_at: datetime | None = None,
    ) -> OnlineResponse:
        app = self.registry.get(app_name)
        records, single = parse_records(body, max_records=self.settings.max_records)
        if idempotency_key is None:
            digest = None
        else:  # the same body at another decision time is another request
            stamped = body if decided_at is None else body + b"\n" + decided_at.isoformat().encode()
            digest = body_digest(app.name, explain, stamped)
        request = OnlineRequest(
            records,
            single,
            actor,
            explain,
            idempotency_key,
            digest,
            key_owner=key_owner,
            decided_at=decided_at,
        )
        if single and decided_at is None:  # a backfill is never batched with live requests
            result = await self.batchers[app.name].submit(request)
        else:
            result = (await anyio.to_thread.run_sync(self.run, app, [request]))[0]
        if isinstance(result, DoorstepError):
            raise result
        return result

    async def close(self) -> None:
        for batcher in self.batchers.values():
            await batcher.close()
        for lookup in self.features.values():
            lookup.close()
