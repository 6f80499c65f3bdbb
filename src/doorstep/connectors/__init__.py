"""Connectors: where actions are delivered (webhook, chat, email, SQL, file, the message buses
RabbitMQ, NATS, Redis Streams and MQTT, and plugins).

See :mod:`doorstep.connectors.base` for the protocol and docs/connectors.md for each connector.
"""
