"""The webhook connector: POST each action as signed JSON, per Standard Webhooks.

Every request carries the three headers of https://www.standardwebhooks.com/:

- ``webhook-id``: the delivery's idempotency key, the same on every attempt, so a receiver that
  remembers ids acts once however often a delivery is retried;
- ``webhook-timestamp``: Unix seconds when this attempt was made (fresh on each attempt), so a
  receiver can refuse replays of old requests;
- ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` keyed with the
  bytes of the secret after ``whsec_``; during a rotation one signature per secret, separated by
  spaces, so receivers holding either secret accept the request.

Any Standard Webhooks library verifies them (``standardwebhooks`` on PyPI, ``svix`` and others).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel

from doorstep.connectors.base import ConnectorContext, Message, SendResult
from doorstep.connectors.http import JSONPoster, encode_json
from doorstep.connectors.templates import TemplateRenderError, render
from doorstep.core.spec.models import WebhookConnectorSpec
from doorstep.errors import ConnectorSpecError

__all__ = ["WebhookConnector", "parse_secret", "sign"]

SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES = 16
"""Shorter keys are refused; Standard Webhooks recommends 24 to 64 random bytes."""
RESERVED_HEADERS = frozenset(
    {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "content-length",
        "host",
        "transfer-encoding",
        "connection",
    }
)
"""Headers a spec may not set: doorstep computes them for every request."""
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_FORBIDDEN_IN_VALUES = re.compile(r"[\r\n\x00]")


def parse_secret(value: str, *, connector: str = "", key: str = "secret") -> bytes:
    """The signing key of a ``whsec_`` secret. The error names the connector and key, never the
    value (it is a secret)."""
    if not value.startswith(SECRET_PREFIX):
        raise ConnectorSpecError(
            connector,
            key,
            "expected a Standard Webhooks secret, 'whsec_' followed by base64; the value "
            "does not start with 'whsec_'",
        )
    encoded = value[len(SECRET_PREFIX) :]
    try:
        secret = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ConnectorSpecError(
            connector, key, "the part after 'whsec_' is not valid base64"
        ) from None
    if len(secret) < MIN_SECRET_BYTES:
        raise ConnectorSpecError(
            connector,
            key,
            f"the secret has {len(secret)} bytes, fewer than {MIN_SECRET_BYTES}; generate one "
            'with: python -c "import base64, secrets; '
            "print('whsec_' + base64.b64encode(secrets.token_bytes(32)).decode())\"",
        )
    return secret


def sign(keys: list[bytes], webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header: one ``v1,<base64>`` signature per key."""
    message = f"{webhook_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()
        for key in keys
    )


class WebhookConnector:
    """POSTs an action's rendered payload as JSON to ``url``, signed when a secret is set."""

    spec_model: ClassVar[type[BaseModel]] = WebhookConnectorSpec
    type: ClassVar[str] = "webhook"

    def __init__(
        self,
        spec: WebhookConnectorSpec,
        context: ConnectorContext,
        *,
        clock: Callable[[], float] = time.time,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.name = context.name
        secrets = [] if spec.secret is None else _as_list(spec.secret, context.name)
        many = isinstance(spec.secret, list)
        self._keys = [
            parse_secret(s, connector=context.name, key=f"secret[{i}]" if many else "secret")
            for i, s in enumerate(secrets)
        ]
        self._headers = _check_headers(spec.headers, context.name)
        self._clock = clock
        hidden = {*context.secrets, *secrets, *(s[len(SECRET_PREFIX) :] for s in secrets)}
        self._poster = JSONPoster(
            connector=context.name,
            url=spec.url,
            allow_networks=spec.allow_networks,
            timeout=spec.timeout,
            secrets=hidden,
            verify=verify,
        )

    @classmethod
    def from_spec(cls, spec: BaseModel, context: ConnectorContext) -> WebhookConnector:
        """Check the secrets, headers, URL and ``allow_networks``; no network I/O."""
        if not isinstance(spec, WebhookConnectorSpec):
            raise TypeError(f"expected a WebhookConnectorSpec, got {type(spec).__name__}")
        return cls(spec, context)

    def send(self, delivery: Message) -> SendResult:
        """POST once; a template or payload that cannot be rendered fails the delivery."""
        try:
            headers = self._render_headers(delivery.context)
        except TemplateRenderError as error:
            return SendResult("failed", self._poster.redact(str(error)))
        try:
            body = encode_json(delivery.payload)
        except ValueError as error:
            return SendResult("failed", self._poster.redact(f"payload is not JSON: {error}"))
        timestamp = int(self._clock())
        headers["webhook-id"] = delivery.key
        headers["webhook-timestamp"] = str(timestamp)
        if self._keys:
            headers["webhook-signature"] = sign(self._keys, delivery.key, timestamp, body)
        return self._poster.post(body, headers, deadline=delivery.deadline)

    def close(self) -> None:
        """Close pooled connections."""
        self._poster.close()

    def _render_headers(self, context: Mapping[str, Any]) -> dict[str, str]:
        rendered: dict[str, str] = {}
        for name, template in self._headers.items():
            where = f"connectors.{self.name}.headers.{name}"
            value = render(template, context, where=where)
            if _FORBIDDEN_IN_VALUES.search(value):
                raise TemplateRenderError(f"{where}: the rendered value contains a line break")
            rendered[name] = value
        return rendered


def _as_list(secret: str | list[str], connector: str) -> list[str]:
    if isinstance(secret, str):
        return [secret]
    if not secret:
        raise ConnectorSpecError(
            connector, "secret", "an empty list; list at least one secret or leave 'secret' out"
        )
    return list(secret)


def _check_headers(headers: Mapping[str, str], connector: str) -> dict[str, str]:
    for name in headers:
        if not _TOKEN.match(name):
            raise ConnectorSpecError(connector, f"headers.{name}", "not a valid HTTP header name")
        if name.lower() in RESERVED_HEADERS:
            raise ConnectorSpecError(
                connector,
                f"headers.{name}",
                f"doorstep sets {name} itself; remove it from 'headers'",
            )
    return dict(headers)
