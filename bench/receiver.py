"""The webhook receiver of the dispatch benchmark: a bare ASGI app (no framework) that checks each
POST's Standard Webhooks signature, remembers the first arrival of each ``webhook-id`` and
answers 204. Run it alone in its own process, one uvicorn worker on uvloop and httptools:

    RECEIVER_SECRET=whsec_... .venv/bin/python -m uvicorn bench.receiver:app --port 9100 \\
        --loop uvloop --http httptools --no-access-log --log-level warning

``POST`` to any other path than the ones below is a webhook. Control routes, called outside
measurements only:

- ``GET /_stats``: ``{"requests", "distinct", "duplicates", "bad_signatures", "unsigned",
  "body_bytes", "head_bytes"}`` since the last reset;
- ``GET /_arrivals``: ``{webhook_id: first arrival}``, in seconds of ``time.monotonic()`` (on
  Linux the same clock in every process of the machine, so the benchmark compares it with its
  own);
- ``POST /_reset``: forget everything.

The signature is checked with ``hmac`` and ``base64`` directly (not doorstep's code), so the
benchmark also proves that doorstep signs what it sends. A request without ``webhook-id`` or with
a wrong signature is still answered 204 (the sender must not retry it) and counted apart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from typing import Any

__all__ = ["SECRET_ENV", "Receiver", "app"]

SECRET_ENV = "RECEIVER_SECRET"


class Receiver:
    """The ASGI app; its counters live as long as the process."""

    def __init__(self, secret: str | None) -> None:
        self.key = None
        if secret:
            encoded = secret.removeprefix("whsec_")
            self.key = base64.b64decode(encoded + "=" * (-len(encoded) % 4))
        self.reset()

    def reset(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.requests = self.duplicates = self.bad = self.unsigned = 0
        self.body_bytes = self.head_bytes = 0

    def stats(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "distinct": len(self.arrivals),
            "duplicates": self.duplicates,
            "bad_signatures": self.bad,
            "unsigned": self.unsigned,
            "body_bytes": self.body_bytes,
            "head_bytes": self.head_bytes,
        }

    def accept(self, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        arrived = time.monotonic()
        webhook_id = timestamp = signature = b""
        head = 0
        for name, value in headers:
            head += len(name) + len(value) + 4
            if name == b"webhook-id":
                webhook_id = value
            elif name == b"webhook-timestamp":
                timestamp = value
            elif name == b"webhook-signature":
                signature = value
        self.requests += 1
        self.body_bytes += len(body)
        self.head_bytes += head
        if not webhook_id:
            self.unsigned += 1
            return
        if self.key is not None and not self._signed(webhook_id, timestamp, signature, body):
            self.bad += 1
            return
        key = webhook_id.decode("latin-1")
        if key in self.arrivals:
            self.duplicates += 1
        else:
            self.arrivals[key] = arrived

    def _signed(self, webhook_id: bytes, timestamp: bytes, signature: bytes, body: bytes) -> bool:
        assert self.key is not None
        digest = hmac.new(self.key, webhook_id + b"." + timestamp + b"." + body, hashlib.sha256)
        expected = b"v1," + base64.b64encode(digest.digest())
        return any(hmac.compare_digest(expected, s) for s in signature.split(b" "))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                kind = (await receive())["type"]  # lifespan.startup, then lifespan.shutdown
                await send({"type": f"{kind}.complete"})
                if kind == "lifespan.shutdown":
                    return
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        path, method = scope["path"], scope["method"]
        answer: Any = None
        if path == "/_stats":
            answer = self.stats()
        elif path == "/_arrivals":
            answer = self.arrivals
        elif path == "/_reset" and method == "POST":
            self.reset()
            answer = {}
        elif method == "POST":
            self.accept(scope["headers"], b"".join(chunks))
        if answer is None:
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        body = json.dumps(answer).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


app = Receiver(os.environ.get(SECRET_ENV))
