"""Prometheus metrics, on a registry of their own per app instance (never the global one).

- ``doorstep_http_request_duration_seconds{route,method,status}`` — latency histogram;
- ``doorstep_decisions_total{app,action}`` — decisions recorded;
- ``doorstep_rejects_total{app}`` — records rejected by the input contract;
- ``doorstep_review_backlog{app}`` — decisions pending review (counted at scrape time);
- ``doorstep_deliveries{app,state}`` — the outbox's deliveries by state, every state of
  ``held``, ``pending``, ``sending``, ``delivered``, ``dead``, ``cancelled`` (counted at scrape
  time);
- ``doorstep_delivery_attempts_total{app,connector,outcome}`` — delivery attempts made by this
  server's dispatcher, by the connector's outcome (``delivered``, ``retry``, ``failed``,
  ``gone``);
- ``doorstep_delivery_seconds{app,connector,outcome}`` — histogram of the time each of those
  attempts spent in the connector's ``send`` (0 when nothing was sent).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from doorstep.services.decide.online import DecisionTally
from doorstep.services.deliver.dispatcher import AttemptReport
from doorstep.services.deliver.operations import delivery_counts
from doorstep.services.review.queue import review_backlog
from doorstep.store.protocols import DecisionStore, DeliveryAdminStore

__all__ = ["MeteredStore", "MetricsMiddleware", "ServiceMetrics"]


class MeteredStore(DecisionStore, DeliveryAdminStore, Protocol):
    """What a scrape reads: the review backlog and the deliveries by state."""


BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram(
            "doorstep_http_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["route", "method", "status"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.decisions = Counter(
            "doorstep_decisions",
            "Decisions recorded, by app and action.",
            ["app", "action"],
            registry=self.registry,
        )
        self.rejects = Counter(
            "doorstep_rejects",
            "Records rejected by the input contract.",
            ["app"],
            registry=self.registry,
        )
        self.backlog = Gauge(
            "doorstep_review_backlog",
            "Decisions pending review.",
            ["app"],
            registry=self.registry,
        )
        self.deliveries = Gauge(
            "doorstep_deliveries",
            "Deliveries in the outbox, by app and state.",
            ["app", "state"],
            registry=self.registry,
        )
        self.attempts = Counter(
            "doorstep_delivery_attempts",
            "Delivery attempts made by this server's dispatcher, by app, connector and outcome.",
            ["app", "connector", "outcome"],
            registry=self.registry,
        )
        self.delivery_seconds = Histogram(
            "doorstep_delivery_seconds",
            "Time a delivery attempt spent in its connector's send.",
            ["app", "connector", "outcome"],
            buckets=BUCKETS,
            registry=self.registry,
        )

    def count(self, app: str, tally: DecisionTally) -> None:
        for action, n in tally.actions.items():
            self.decisions.labels(app, action).inc(n)
        if tally.rejected:
            self.rejects.labels(app).inc(tally.rejected)

    def attempt(self, report: AttemptReport, seconds: float) -> None:
        """Count one delivery attempt (the dispatcher's ``on_attempt`` hook)."""
        labels = (report.app, report.connector, report.outcome)
        self.attempts.labels(*labels).inc()
        self.delivery_seconds.labels(*labels).observe(seconds)

    def measure_backlog(self, store: DecisionStore, apps: list[str], cap: int) -> None:
        """Count pending reviews per app (at most ``cap``)."""
        for app in apps:
            self.backlog.labels(app).set(review_backlog(store, app, cap=cap))

    def measure_deliveries(self, store: DeliveryAdminStore, apps: list[str]) -> None:
        """Count each app's deliveries by state (one grouped query per app)."""
        for app in apps:
            for state, n in delivery_counts(store, app).items():
                self.deliveries.labels(app, state).set(n)

    def measure(self, store: MeteredStore, apps: list[str], cap: int) -> None:
        """Everything counted at scrape time: the review backlog and the outbox."""
        self.measure_backlog(store, apps, cap)
        self.measure_deliveries(store, apps)


class MetricsMiddleware:
    """Times every HTTP request, labelled by route template (not the raw path)."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route: Any = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.latency.labels(path, scope["method"], str(status[0])).observe(
                time.perf_counter() - start
            )
