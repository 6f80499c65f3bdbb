"""Stream sources: message buses whose events are decided as they arrive (NATS JetStream, Redis
Streams, RabbitMQ, MQTT; a Kafka plugin fits the same interface, see
:mod:`doorstep.streams.base`).

Adapters at the edge; :mod:`doorstep.services.decide.streams` reads them in micro-batches through
the one decision path. Each is registered under the ``doorstep.streams`` entry point group and
built from an entry of the spec's ``streams`` section by :func:`doorstep.plugins.open_stream`.
"""

from doorstep.streams.base import StreamMessage, StreamSource, StreamSourceFactory

__all__ = ["StreamMessage", "StreamSource", "StreamSourceFactory"]
