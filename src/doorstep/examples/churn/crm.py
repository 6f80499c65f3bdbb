"""A stand-in for the CRM of the churn example: a webhook receiver on 127.0.0.1 that checks each
request's Standard Webhooks signature, keeps each ``webhook-id`` once (as an idempotent receiver
should) and appends what it accepted to ``crm-inbox.jsonl``.

``doorstep demo --serve`` starts it so that the example's ``crm`` connector has somewhere real to
deliver to; point ``CRM_WEBHOOK_URL`` at a real system instead.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from doorstep.connectors.webhook import parse_secret, sign

__all__ = ["DEMO_SECRET", "CrmStandIn"]

DEMO_SECRET = "whsec_ZG9vcnN0ZXAtZGVtby1zZWNyZXQtMzItYnl0ZXMh"
"""The example spec's default signing secret: for the demo only (set ``CRM_WEBHOOK_SECRET``)."""

TOLERANCE = 300
"""Seconds a request's timestamp may be off, as Standard Webhooks recommends."""


class CrmStandIn:
    """Use as a context manager: serves ``POST /hooks/doorstep`` on ``127.0.0.1:port``."""

    def __init__(self, inbox: Path, *, port: int = 9000, secret: str = DEMO_SECRET) -> None:
        self.inbox = inbox
        self.key = parse_secret(secret)
        self.seen: set[str] = set()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self.server.stand_in = self  # type: ignore[attr-defined]
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/doorstep"

    def __enter__(self) -> CrmStandIn:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def accept(self, headers: dict[str, str], body: bytes) -> int:
        """The HTTP status for one request (and its line in the inbox when it is new)."""
        webhook_id = headers.get("webhook-id", "")
        timestamp = headers.get("webhook-timestamp", "")
        if not webhook_id or not timestamp.isdigit():
            return 400
        if abs(time.time() - int(timestamp)) > TOLERANCE:
            return 400
        expected = sign([self.key], webhook_id, int(timestamp), body).split(" ")
        offered = headers.get("webhook-signature", "").split(" ")
        if not any(hmac.compare_digest(a, b) for a in expected for b in offered):
            return 401
        with self.lock:
            if webhook_id in self.seen:
                return 200  # a retry of what arrived already: acknowledged, not counted again
            self.seen.add(webhook_id)
            line = {
                "received_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "webhook_id": webhook_id,
                "payload": json.loads(body),
            }
            with self.inbox.open("a", encoding="utf-8") as out:
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
        return 204


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        stand_in: CrmStandIn = self.server.stand_in  # type: ignore[attr-defined]
        if self.path != "/hooks/doorstep":
            self.send_response(404)
            self.end_headers()
            return
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status = stand_in.accept(headers, body)
        except ValueError:
            status = 400
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass
