"""The FastAPI application factory: ``create_app(apps, store, settings)``.

No globals and no import-time side effects: every instance has its own micro-batchers, metrics
registry and key cache, so tests and several instances in one process do not interfere.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from doorstep import __version__
from doorstep.runtime.consume_loop import consuming
from doorstep.runtime.dispatch_loop import delivering
from doorstep.runtime.monitor_loop import alerting
from doorstep.runtime.run_loop import scheduling
from doorstep.runtime.stage_loop import following_stages
from doorstep.services.apps.registry import Registry
from doorstep.services.governance.key_usage import KeyUsage
from doorstep.store.protocols import StoreContract
from doorstep.web.auth import Authenticator, authorize
from doorstep.web.guards import AuthorizedRoute, BodyLimit, NoSniff
from doorstep.web.metrics import MetricsMiddleware, ServiceMetrics, StreamMetrics
from doorstep.web.openapi import install_openapi
from doorstep.web.pages import install_pages
from doorstep.web.problems import install_problem_handlers
from doorstep.web.routes import apps as apps_routes
from doorstep.web.routes import decisions as decision_routes
from doorstep.web.routes import deliveries as delivery_routes
from doorstep.web.routes import fairness as fairness_routes
from doorstep.web.routes import model_reports as model_report_routes
from doorstep.web.routes import models as model_routes
from doorstep.web.routes import monitoring as monitoring_routes
from doorstep.web.routes import runs as run_routes
from doorstep.web.routes import streams as stream_routes
from doorstep.web.service import DecisionService
from doorstep.web.settings import ServeSettings

__all__ = ["create_app"]

DESCRIPTION = """Explained decisions for client systems. Authenticate with
`Authorization: Bearer dsk_...`; errors are RFC 9457 problem details. See docs/api.md."""


def create_app(
    apps: Registry, store: StoreContract, settings: ServeSettings | None = None
) -> FastAPI:
    """A new API application serving ``apps`` on ``store``."""
    settings = settings or ServeSettings()
    metrics = ServiceMetrics()
    service = DecisionService(apps, store, settings, metrics)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Everything loaded so far (models, libraries, specs) lives as long as the server: move
        # it out of the collector's reach, or each full collection walks it (~100 ms here, a
        # stall every request in flight would wait for).
        gc.collect()
        gc.freeze()
        apps = list(service.registry)
        with delivering(
            apps,
            store,
            enabled=settings.deliver,
            concurrency=settings.delivery_concurrency,
            public_url=settings.public_url,
            on_attempt=metrics.attempt,
        ) as dispatcher:
            service.on_deliveries = None if dispatcher is None else dispatcher.wake
            try:
                with (
                    following_stages(service.live, store, seconds=settings.stage_poll_seconds),
                    scheduling(
                        apps,
                        store,
                        enabled=settings.schedules,
                        lookups=service.features,
                        current=lambda name: service.registry.get(name),
                    ),
                    alerting(
                        apps,
                        store,
                        profiles=service.profiles,
                        enabled=settings.schedules,
                        in_child_process=settings.monitor_process,
                        nice=settings.monitor_nice,
                        idle=settings.monitor_idle,
                        public_url=settings.public_url,
                        on_alerts=service.deliveries_written,
                    ),
                    consuming(
                        apps,
                        store,
                        enabled=settings.consume,
                        lookups=service.features,
                        observer=StreamMetrics(metrics),
                        on_deliveries=service.deliveries_written,
                    ),
                ):
                    yield
                    await service.close()
            finally:
                service.on_deliveries = None

    app = FastAPI(
        title="doorstep",
        version=__version__,
        description=DESCRIPTION,
        dependencies=[Depends(authorize)],
        lifespan=lifespan,
        docs_url=None,  # served from this server by install_openapi, with no CDN
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.router.route_class = AuthorizedRoute  # the caller is checked before a body is read
    app.state.service = service
    app.state.settings = settings
    app.state.authenticator = Authenticator(store)
    app.state.key_usage = KeyUsage(store)
    install_problem_handlers(app)
    install_openapi(app)
    decision_routes.install(app)
    apps_routes.install(app)
    delivery_routes.install(app)
    monitoring_routes.install(app)
    fairness_routes.install(app)
    model_report_routes.install(app)
    run_routes.install(app)
    stream_routes.install(app)
    model_routes.install(app)
    install_pages(app, settings)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(NoSniff)
    return app
