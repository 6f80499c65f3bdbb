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
  attempts spent in the connector's ``send`` (0 when nothing was sent);
- ``doorstep_source_lookups_total{app,source,outcome}`` — calls of a feature source (one per
  micro-batch or batch request that needed it), by ``ok``, ``unavailable``, ``timeout``;
- ``doorstep_source_lookup_seconds{app,source}`` — histogram of the time each call took;
- ``doorstep_source_entities_total{app,source}`` — entity ids asked of the source (cache hits
  included), ``doorstep_source_cache_hits_total{app,source}`` — those its cache answered;
- ``doorstep_source_refusals_total{app,rule}`` — records refused by the lookups, by rule
  (``id_invalid``, ``entity_unknown``, ``entity_ambiguous``, ``stale``);
- per stream this server consumes (``serve --consume``), labelled ``app`` and ``stream``:
  ``doorstep_stream_messages_total`` (messages received, redeliveries included),
  ``doorstep_stream_decisions_total``, ``doorstep_stream_rejects_total``,
  ``doorstep_stream_dead_letters_total``, ``doorstep_stream_duplicates_total`` (redeliveries
  of messages decided before), ``doorstep_stream_errors_total`` (failed attempts, retried),
  ``doorstep_stream_lag`` (messages waiting on the bus, as it last told; absent when it cannot
  tell) and ``doorstep_stream_batch_seconds`` (histogram: a micro-batch decided, committed and
  acknowledged).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from doorstep.services.decide.features import LookupObserver
from doorstep.services.decide.online import DecisionTally
from doorstep.services.decide.streams import StepResult
from doorstep.services.deliver.dispatcher import AttemptReport
from doorstep.services.deliver.operations import delivery_counts
from doorstep.services.review.queue import review_backlog
from doorstep.store.protocols import DecisionStore, DeliveryAdminStore

__all__ = ["MeteredStore", "MetricsMiddleware", "ServiceMetrics", "StreamMetrics"]


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

        self.source_lookups = Counter(
            "doorstep_source_lookups",
            "Calls of a feature source, by app, source and outcome (ok, unavailable, timeout).",
            ["app", "source", "outcome"],
            registry=self.registry,
        )
        self.source_seconds = Histogram(
            "doorstep_source_lookup_seconds",
            "Time a call of a feature source took.",
            ["app", "source"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.source_entities = Counter(
            "doorstep_source_entities",
            "Entity ids asked of a feature source (cache hits included).",
            ["app", "source"],
            registry=self.registry,
        )
        self.source_cache_hits = Counter(
            "doorstep_source_cache_hits",
            "Entity ids a feature source's cache answered.",
            ["app", "source"],
            registry=self.registry,
        )
        self.source_refusals = Counter(
            "doorstep_source_refusals",
            "Records refused by feature lookups, by app and rule.",
            ["app", "rule"],
            registry=self.registry,
        )

        stream = ["app", "stream"]
        self.stream_counters = {
            name: Counter(
                f"doorstep_stream_{name}",
                f"{what}, by app and stream.",
                stream,
                registry=self.registry,
            )
            for name, what in (
                ("messages", "Stream messages received (redeliveries included)"),
                ("decisions", "Decisions made on stream messages"),
                ("rejects", "Stream messages rejected by the input contract"),
                ("dead_letters", "Stream messages published to the dead letter"),
                ("duplicates", "Redeliveries of stream messages decided before"),
                ("errors", "Failed attempts of a stream's micro-batch (retried)"),
            )
        }
        self.stream_lag = Gauge(
            "doorstep_stream_lag",
            "Messages waiting on the bus for the stream's consumer, as the bus last told.",
            stream,
            registry=self.registry,
        )
        self.stream_seconds = Histogram(
            "doorstep_stream_batch_seconds",
            "Time to decide, commit and acknowledge one micro-batch of a stream.",
            stream,
            buckets=BUCKETS,
            registry=self.registry,
        )

    def source_observer(self, app: str) -> LookupObserver:
        """What an app's :class:`FeatureLookup` reports its lookups to."""
        return _SourceObserver(self, app)

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


class StreamMetrics:
    """What a stream consumer tells (a :class:`~doorstep.services.decide.streams.StreamObserver`),
    counted on a server's metrics."""

    def __init__(self, metrics: ServiceMetrics) -> None:
        self.metrics = metrics

    def batch(self, app: str, stream: str, result: StepResult, seconds: float) -> None:
        counters = self.metrics.stream_counters
        for name, n in (
            ("messages", result.received),
            ("decisions", result.decided),
            ("rejects", result.rejected),
            ("dead_letters", result.dead_letters),
            ("duplicates", result.duplicates),
        ):
            counters[name].labels(app, stream).inc(n)
        self.metrics.stream_seconds.labels(app, stream).observe(seconds)

    def failed(self, app: str, stream: str) -> None:
        self.metrics.stream_counters["errors"].labels(app, stream).inc()

    def lag(self, app: str, stream: str, lag: int | None) -> None:
        if lag is None:
            try:
                self.metrics.stream_lag.remove(app, stream)
            except KeyError:
                pass
        else:
            self.metrics.stream_lag.labels(app, stream).set(lag)


class _SourceObserver:
    def __init__(self, metrics: ServiceMetrics, app: str) -> None:
        self.metrics, self.app = metrics, app

    def asked(self, source: str, entities: int, cache_hits: int) -> None:
        self.metrics.source_entities.labels(self.app, source).inc(entities)
        if cache_hits:
            self.metrics.source_cache_hits.labels(self.app, source).inc(cache_hits)

    def looked_up(self, source: str, outcome: str, seconds: float) -> None:
        self.metrics.source_lookups.labels(self.app, source, outcome).inc()
        self.metrics.source_seconds.labels(self.app, source).observe(seconds)

    def refused(self, rule: str, records: int) -> None:
        self.metrics.source_refusals.labels(self.app, rule).inc(records)


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
