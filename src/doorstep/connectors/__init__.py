"""Connectors: where actions are delivered (webhook, chat, email, SQL, file, and plugins).

See :mod:`doorstep.connectors.base` for the protocol and docs/connectors.md for each connector.
"""
