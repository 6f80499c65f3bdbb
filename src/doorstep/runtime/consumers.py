"""``doorstep consume``: one consumer thread per stream of the apps' specs, until SIGINT or
SIGTERM.

:func:`open_consumers` loads the apps, opens the store and connects every stream's source
(settings refused by a source are located in the spec, like any spec error);
:func:`run_until_signal` runs them. On the first signal each consumer finishes the micro-batch
in hand — committed and acknowledged — and stops; a second signal leaves at once (what was not
acknowledged is delivered again by the bus, and deduplicated).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from doorstep.errors import ConnectorSpecError, PluginError, SpecError
from doorstep.runtime.signals import until_signal
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.decide.features import FeatureLookup
from doorstep.services.decide.streams import ConsumerStore, StreamConsumer
from doorstep.store.protocols import StoreContract

__all__ = [
    "Consumers",
    "consumers_of",
    "open_consumer",
    "open_consumers",
    "run_until_signal",
]

log = logging.getLogger("doorstep.streams")


@dataclass
class Consumers:
    """The consumers of the apps' streams, on one store."""

    consumers: list[StreamConsumer]
    store: StoreContract

    @property
    def names(self) -> list[str]:
        return [f"{c.app.name}/{c.name} ({c.source.kind})" for c in self.consumers]

    def run(self, stop: threading.Event) -> None:
        """Run every consumer in a thread of its own until ``stop`` is set; a consumer that
        fails for good (not a pause) stops the others."""
        failures: list[BaseException] = []

        def target(consumer: StreamConsumer) -> None:
            try:
                consumer.run(stop)
            except BaseException as error:
                failures.append(error)
                log.error("stream %r stopped: %s", consumer.name, error)
                stop.set()

        threads = [
            threading.Thread(target=target, args=(c,), name=f"stream-{c.name}", daemon=True)
            for c in self.consumers
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)
        if failures:
            raise failures[0]


@contextmanager
def open_consumers(
    specs: list[Path], db: str | None, *, streams: list[str] | None = None
) -> Iterator[Consumers]:
    """Consumers of every stream of the apps of ``specs`` (or of the ``streams`` named) on the
    store at ``db``; the sources are connected, and closed on leaving."""
    from doorstep.services.apps.registry import load_registry
    from doorstep.store import open_store

    registry = load_registry(specs)
    wanted = set(streams or [])
    declared = {name for app in registry for name in app.spec.streams}
    unknown = sorted(wanted - declared)
    if unknown:
        from doorstep.core.spec.streams import unknown_stream
        from doorstep.errors import InputError

        raise InputError(unknown_stream(unknown[0], sorted(declared)))
    if not declared:
        from doorstep.errors import InputError

        raise InputError(
            "The specs declare no streams: add a 'streams' section (see docs/streams.md)."
        )
    store = open_store(db)
    try:
        with consumers_of(list(registry), store, streams=wanted) as consumers:
            yield consumers
    finally:
        store.close()


@contextmanager
def consumers_of(
    apps: list[LoadedApp],
    store: StoreContract,
    *,
    streams: set[str] | None = None,
    lookups: Mapping[str, FeatureLookup] | None = None,
) -> Iterator[Consumers]:
    """Consumers of the streams of ``apps`` (every one, or those in ``streams``) on ``store``;
    their sources are connected, and closed on leaving. ``lookups``: the apps' feature
    lookups already open (a server's), by app name."""
    consumers: list[StreamConsumer] = []
    try:
        for app in apps:
            features = (lookups or {}).get(app.name)
            for name in app.spec.streams:
                if streams and name not in streams:
                    continue
                if features is None:
                    features = FeatureLookup.open(app.spec, app.root)
                consumers.append(open_consumer(app, name, store, features))
        yield Consumers(consumers, store)
    finally:
        for consumer in consumers:
            consumer.source.close()


def open_consumer(
    app: LoadedApp, name: str, store: StoreContract, features: FeatureLookup | None
) -> StreamConsumer:
    """A consumer of ``app``'s stream ``name``, its source connected (settings a source
    refuses are located in the spec, like any spec error); the caller closes its source."""
    from doorstep.plugins import open_stream

    spec = app.spec.streams[name]
    try:
        source = open_stream(name, spec)
    except ValidationError as error:  # a plugin's settings, refused
        where = ("streams", name, "source")
        issues = [
            app.doc.issue((*where, *[p for p in e["loc"] if p]), e["msg"]) for e in error.errors()
        ]
        raise SpecError(issues) from None
    except (ConnectorSpecError, PluginError) as error:  # located in the spec
        located = ("streams", name, "source", getattr(error, "key", "type"))
        raise SpecError([app.doc.issue(located, error.message)]) from None
    consumer_store: ConsumerStore = store
    return StreamConsumer(app, consumer_store, name, spec, source, features=features)


def run_until_signal(consumers: Consumers, on_stop: Callable[[str], None]) -> None:
    """Consume until SIGINT or SIGTERM (``on_stop`` is told the signal's name), finishing the
    micro-batches in hand; a second signal raises :class:`KeyboardInterrupt`."""
    until_signal(consumers.run, on_stop)
