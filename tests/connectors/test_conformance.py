"""``check_connector`` over every built-in connector, loaded through its entry point as a plugin
would be, each against a real target; and over deliberately broken connectors, which it must
catch."""

from __future__ import annotations

import base64
import builtins
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiosmtpd.controller import Controller
from pydantic import BaseModel
from tests.connectors.receivers import Receiver

from doorstep.connectors.base import ConnectorContext, Message, SendResult
from doorstep.core.spec.models import FileConnectorSpec
from doorstep.plugins import connector_factory, connector_types
from doorstep.testing import check_connector

WHSEC = "whsec_" + base64.b64encode(b"conformance-signing-secret-32by!").decode()
LOOPBACK = ["127.0.0.1/32"]
CLOSED = "http://127.0.0.1:9/nobody"  # the discard port: nothing listens


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Inbox:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 OK"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(secrets=[WHSEC]) as r:
        yield r


def test_every_built_in_type_is_checked() -> None:
    # the bus connectors are checked against their brokers in test_buses.py
    buses = {"rabbitmq", "nats", "redis", "mqtt"}
    assert set(connector_types()) >= {"webhook", "chat", "email", "sql", "file", *buses}


@pytest.mark.parametrize("kind", ["webhook", "chat"])
def test_http_connectors_conform(kind: str, receiver: Receiver) -> None:
    spec: dict[str, Any] = {"type": kind, "url": receiver.url(), "allow_networks": LOOPBACK}
    if kind == "webhook":
        spec["secret"] = WHSEC
    check_connector(
        connector_factory(kind),
        spec,
        received=lambda: len(receiver.requests),
        unreachable={**spec, "url": CLOSED, "timeout": 2},
    )
    if kind == "webhook":
        assert all(r.verified_with == (WHSEC,) for r in receiver.requests)


def test_email_connector_conforms() -> None:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    spec = {
        "type": "email",
        "host": "127.0.0.1",
        "port": port,
        "starttls": False,
        "sender": "doorstep@example.com",
        "to": ["team@example.com"],
        "allow_networks": LOOPBACK,
        "timeout": 5,
    }
    try:
        check_connector(
            connector_factory("email"),
            spec,
            received=lambda: inbox.count,
            unreachable={**spec, "port": free_port()},
        )
    finally:
        controller.stop()


def test_sql_connector_conforms(tmp_path: Path) -> None:
    database = tmp_path / "crm.db"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE offers (customer TEXT, score REAL)")

    def rows() -> int:
        with sqlite3.connect(database) as db:
            return int(db.execute("SELECT count(*) FROM offers").fetchone()[0])

    check_connector(
        connector_factory("sql"),
        {"type": "sql", "url": f"sqlite:///{database}", "table": "offers"},
        received=rows,
        unreachable={"type": "sql", "url": f"sqlite:///{tmp_path}/no/such/dir.db", "table": "x"},
    )


def test_file_connector_conforms(tmp_path: Path) -> None:
    out = tmp_path / "actions.jsonl"

    def lines() -> int:
        return len(out.read_text().splitlines()) if out.exists() else 0

    check_connector(
        connector_factory("file"),
        {"type": "file", "path": str(out)},
        received=lines,
        base_dir=tmp_path,
    )
    assert lines() == 1  # the resend of the same delivery was recognised


# --- broken connectors: the suite must catch each --------------------------------------------


class _Base:
    type: ClassVar[str] = "file"
    spec_model: ClassVar[builtins.type[BaseModel]] = FileConnectorSpec

    @classmethod
    def from_spec(cls, spec: BaseModel, context: ConnectorContext) -> Any:
        return cls()

    def send(self, delivery: Message) -> SendResult:
        return SendResult("delivered")

    def close(self) -> None:
        pass


class Raises(_Base):
    def send(self, delivery: Message) -> SendResult:
        raise OSError("connection refused")


class LeaksSecret(_Base):
    def send(self, delivery: Message) -> SendResult:
        return SendResult("delivered", detail=f"sent {delivery.context['inputs']}")


class RefusesResends(_Base):
    def send(self, delivery: Message) -> SendResult:
        return SendResult("delivered" if delivery.attempt == 1 else "failed", "duplicate")


class WrongOutcome(_Base):
    def send(self, delivery: Message) -> SendResult:
        return SendResult("ok")  # type: ignore[arg-type]


class NotAClassMethod(_Base):
    def from_spec(self, spec: BaseModel, context: ConnectorContext) -> Any:  # type: ignore[override]
        return self


class NoClose(_Base):
    def close(self) -> None:
        raise RuntimeError("already closed")


class TypeMismatch(_Base):
    type: ClassVar[str] = "teams"


class NeverReachedTarget(_Base):
    """Claims delivery but nothing arrives at the target."""


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (Raises, "send: raised OSError"),
        (LeaksSecret, "shows a secret"),
        (RefusesResends, "resend"),
        (WrongOutcome, "unknown outcome"),
        (NotAClassMethod, "classmethod"),
        (NoClose, "close: raised RuntimeError"),
        (TypeMismatch, "the connector's 'teams'"),
        (NeverReachedTarget, "received nothing"),
    ],
)
def test_broken_connectors_are_caught(broken: type, message: str) -> None:
    counts = (lambda: 0) if broken is NeverReachedTarget else None
    with pytest.raises(AssertionError, match=message):
        check_connector(broken, {"type": "file", "path": "x.jsonl"}, received=counts)
