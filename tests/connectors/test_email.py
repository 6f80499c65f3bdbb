"""The e-mail connector against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import contextlib
import email
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from doorstep.connectors.base import ConnectorContext, Message
from doorstep.connectors.deadline import Deadline
from doorstep.connectors.email import EmailConnector, message_id
from doorstep.core.spec.models import EmailConnectorSpec, FileConnectorSpec
from doorstep.errors import ConnectorSpecError

DeliveryFactory = Callable[..., Message]

LOOPBACK = ["127.0.0.0/8", "::1/128"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Mailbox:
    """An aiosmtpd handler that keeps accepted messages, or answers with a set reply."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.rcpt_reply: str | None = None
        self.data_reply: str | None = None
        self.refuse: dict[str, str] = {}

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.rcpt_reply or address in self.refuse:
            return self.rcpt_reply or self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


Server = Callable[..., tuple[Mailbox, int]]


@pytest.fixture
def smtp_server() -> Iterator[Server]:
    """Start aiosmtpd servers on free ports (keyword arguments go to aiosmtpd's SMTP)."""
    controllers: list[Controller] = []

    def start(**options: Any) -> tuple[Mailbox, int]:
        mailbox, port = Mailbox(), _free_port()
        controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
        controller.start()
        controllers.append(controller)
        return mailbox, port

    yield start
    for controller in controllers:
        controller.stop()


def connector(port: int, secrets: frozenset[str] = frozenset(), **spec: Any) -> EmailConnector:
    values: dict[str, Any] = {
        "type": "email",
        "host": "127.0.0.1",
        "port": port,
        "starttls": False,
        "sender": "Doorstep <doorstep@example.com>",
        "to": ["retention@example.com"],
        "allow_networks": LOOPBACK,
        "timeout": 5,
    }
    values.update(spec)
    context = ConnectorContext(name="mail", base_dir=Path("."), secrets=secrets)
    return EmailConnector.from_spec(EmailConnectorSpec(**values), context)


def _parts(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert isinstance(plain, EmailMessage) and isinstance(html, EmailMessage)
    return (
        str(plain.get_content()).replace("\r\n", "\n"),
        str(html.get_content()).replace("\r\n", "\n"),
    )


def test_a_decision_arrives_as_text_and_html(
    smtp_server: Server, delivery: DeliveryFactory
) -> None:
    mailbox, port = smtp_server()
    sent = delivery()
    result = connector(port).send(sent)
    assert result.outcome == "delivered", result
    [(recipients, message)] = mailbox.messages
    assert recipients == ["retention@example.com"]
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == "doorstep: retention_offer for C-1042"
    assert message["From"] == "Doorstep <doorstep@example.com>"
    assert message["X-Doorstep-Delivery"] == sent.key
    assert message["Message-ID"] == message_id(sent.key, "example.com")
    assert message["Auto-Submitted"] == "auto-generated"
    text, html = _parts(message)
    assert "retention_offer for C-1042 (churn)" in text
    assert "Score: 0.873" in text
    assert "- Support tickets (7) raise the churn risk by 0.21" in text
    assert "Plan <Basic> & monthly billing" in text
    assert sent.context["decision_url"] in text
    assert "Plan &lt;Basic&gt; &amp; monthly billing" in html
    assert "<Basic>" not in html
    assert f'<a href="{sent.context["decision_url"]}">' in html
    assert html.count("<li>") == 3


def test_every_attempt_of_a_delivery_has_the_same_message_id(
    smtp_server: Server, delivery: DeliveryFactory
) -> None:
    mailbox, port = smtp_server()
    mail = connector(port)
    first = delivery()
    assert mail.send(first).outcome == "delivered"
    assert mail.send(delivery(attempt=2)).outcome == "delivered"
    assert mail.send(delivery(context={"decision_id": "another"})).outcome == "delivered"
    ids = [message["Message-ID"] for _, message in mailbox.messages]
    assert ids[0] == ids[1] != ids[2]
    assert first.key not in ids[0]  # a digest: keys never leak into other systems' threading


def test_templates_choose_recipients_subject_and_body(
    smtp_server: Server, delivery: DeliveryFactory
) -> None:
    mailbox, port = smtp_server()
    mail = connector(
        port,
        to=["{{ inputs.account_manager }}", "desk@example.com, audit@example.com"],
        subject="Call {{ entity_id }}\nnow",
        body="Please call {{ entity_id }} <today>.\n\nWhy: {{ reasons_text }}",
    )
    assert mail.send(delivery()).outcome == "delivered"
    [(recipients, message)] = mailbox.messages
    assert recipients == ["ana@example.com", "desk@example.com", "audit@example.com"]
    assert message["Subject"] == "Call C-1042 now"  # no header injection through a newline
    text, html = _parts(message)
    assert text.startswith("Please call C-1042 <today>.\n\nWhy: Support tickets (7)")
    assert "<p>Please call C-1042 &lt;today&gt;.</p>" in html
    assert "&lt;Basic&gt; &amp; monthly" in html


def test_a_template_error_fails_naming_the_template(
    smtp_server: Server, delivery: DeliveryFactory
) -> None:
    mailbox, port = smtp_server()
    result = connector(port, subject="{{ no_such_name }}").send(delivery())
    assert result.outcome == "failed"
    assert "connectors.mail.subject" in result.detail and "no_such_name" in result.detail
    assert mailbox.messages == []


@pytest.mark.parametrize(
    ("where", "reply", "outcome"),
    [
        ("data", "451 4.3.0 Mailbox temporarily unavailable", "retry"),
        ("data", "554 5.6.0 Message rejected", "failed"),
        ("rcpt", "450 4.2.1 Try again later", "retry"),
        ("rcpt", "550 5.1.1 No such user", "failed"),
    ],
)
def test_smtp_answers_map_to_outcomes(
    smtp_server: Server, delivery: DeliveryFactory, where: str, reply: str, outcome: str
) -> None:
    mailbox, port = smtp_server()
    setattr(mailbox, f"{where}_reply", reply)
    result = connector(port).send(delivery())
    assert (result.outcome, result.status) == (outcome, int(reply[:3]))
    assert reply.split(" ", 1)[1] in result.detail


def test_a_message_accepted_for_some_recipients_is_delivered(
    smtp_server: Server, delivery: DeliveryFactory
) -> None:
    mailbox, port = smtp_server()
    mailbox.refuse["gone@example.com"] = "550 5.1.1 No such user"
    result = connector(port, to=["retention@example.com", "gone@example.com"]).send(delivery())
    assert result.outcome == "delivered"
    assert result.detail == (
        "accepted by 127.0.0.1 for 1 recipient(s); refused: gone@example.com (550)"
    )
    assert [recipients for recipients, _ in mailbox.messages] == [["retention@example.com"]]


def test_unreachable_and_silent_servers_are_retried(delivery: DeliveryFactory) -> None:
    refused = connector(_free_port()).send(delivery())
    assert refused.outcome == "retry" and "ConnectionRefusedError" in refused.detail
    with socket.socket() as silent:  # accepts the TCP connection, never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        result = connector(silent.getsockname()[1], timeout=0.3).send(delivery())
    assert result.outcome == "retry" and "timed out" in result.detail


class TricklingServer:
    """An SMTP server that greets with one more ``220-`` line every ``pause`` seconds, for
    ``seconds`` (then hangs up): each read of a client gets a line well within its timeout."""

    def __init__(self, pause: float = 0.1, seconds: float = 8.0) -> None:
        self.pause, self.seconds = pause, seconds
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> TricklingServer:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.listener.close()
        self.thread.join(timeout=5)

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            client, _ = self.listener.accept()
            with client:
                end = time.monotonic() + self.seconds
                while time.monotonic() < end and not self.stopping.wait(self.pause):
                    client.sendall(b"220-still greeting\r\n")


@pytest.mark.parametrize("cancel", [False, True], ids=["deadline", "cancelled"])
def test_a_server_that_never_finishes_greeting_is_given_up_on(
    delivery: DeliveryFactory, cancel: bool
) -> None:
    with TricklingServer() as server:
        started = time.monotonic()
        deadline = Deadline(60 if cancel else 1.0)
        if cancel:
            threading.Timer(1.0, deadline.cancel).start()
        result = connector(server.port, timeout=1).send(delivery(deadline=deadline))
        took = time.monotonic() - started
    assert 1.0 <= took < 1.8, took
    assert result.outcome == "retry"
    doing = f"while talking to 127.0.0.1:{server.port}"
    expected = (
        f"not finished: the worker stopped {doing}"
        if cancel
        else f"gave up after 1 s {doing}: an attempt ends before its lease does"
    )
    assert result.detail == expected


def test_private_hosts_need_allow_networks(smtp_server: Server, delivery: DeliveryFactory) -> None:
    mailbox, port = smtp_server()
    result = connector(port, allow_networks=[]).send(delivery())
    assert result.outcome == "failed"
    assert "loopback" in result.detail and "allow_networks" in result.detail
    assert mailbox.messages == []
    with pytest.raises(ConnectorSpecError, match=r"allow_networks\[0\]"):
        connector(port, allow_networks=["10.0.0.1/8"])


def _password_check(
    server: Any, session: Any, envelope: Any, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        b"doorstep",
        b"s3cr3t-Pa55",
    )
    return AuthResult(success=ok, handled=False)


@pytest.mark.parametrize(
    ("password", "outcome"), [("s3cr3t-Pa55", "delivered"), ("wrong", "failed")]
)
def test_login_and_refused_credentials(
    smtp_server: Server, delivery: DeliveryFactory, password: str, outcome: str
) -> None:
    mailbox, port = smtp_server(authenticator=_password_check, auth_require_tls=False)
    mail = connector(port, username="doorstep", password=password, secrets=frozenset({password}))
    result = mail.send(delivery())
    assert result.outcome == outcome, result
    assert password not in result.detail
    assert len(mailbox.messages) == (outcome == "delivered")
    if outcome == "failed":
        assert result.status == 535


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for ``localhost`` (made by the openssl command)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", str(key)]
        + ["-out", str(cert), "-addext", "subjectAltName=DNS:localhost"],
        check=True,
        capture_output=True,
    )
    return cert, key


def _starttls_server(smtp_server: Server, certificate: tuple[Path, Path]) -> tuple[Mailbox, int]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return smtp_server(tls_context=context, require_starttls=True)


def test_starttls_checks_the_certificate_against_the_host_name(
    smtp_server: Server,
    certificate: tuple[Path, Path],
    delivery: DeliveryFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mailbox, port = _starttls_server(smtp_server, certificate)
    untrusted = connector(port, host="localhost", starttls=True).send(delivery())
    assert untrusted.outcome == "retry" and "not trusted" in untrusted.detail
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    result = connector(port, host="localhost", starttls=True).send(delivery())
    assert result.outcome == "delivered", result
    assert len(mailbox.messages) == 1
    plain = connector(port, host="localhost", starttls=False).send(delivery())
    assert (plain.outcome, plain.status) == ("failed", 530)  # the relay insists on STARTTLS


def test_from_spec_takes_only_its_spec() -> None:
    context = ConnectorContext(name="mail", base_dir=Path("."))
    with pytest.raises(TypeError, match="must be an EmailConnectorSpec. Got FileConnectorSpec"):
        EmailConnector.from_spec(FileConnectorSpec(type="file", path="out.jsonl"), context)


def test_registered_under_its_entry_point() -> None:
    from importlib.metadata import entry_points

    from doorstep.connectors.base import ConnectorFactory

    [entry] = entry_points(group="doorstep.connectors", name="email")
    assert entry.load() is EmailConnector
    assert isinstance(EmailConnector, ConnectorFactory) and EmailConnector.type == "email"


def test_a_ready_alert_text_is_the_subject_and_body(
    smtp_server: Server, delivery: DeliveryFactory
) -> None:
    mailbox, port = smtp_server()
    text = "RESOLVED churn: drift of Plan is back within its thresholds\nPSI 0.02 in the day"
    sent = delivery(action="alert.resolved", text=text, context={"entity_id": None})
    result = connector(port, subject="{{ entity_id }}: {{ action }}").send(sent)
    assert result.outcome == "delivered", result
    [(_, message)] = mailbox.messages
    assert (
        message["Subject"]
        == "doorstep: RESOLVED churn: drift of Plan is back within its thresholds"
    )
    plain, html = _parts(message)
    assert plain.strip() == text and "PSI 0.02 in the day" in html


def test_an_alert_without_recipients_goes_to_the_app_owner(
    smtp_server: Server, delivery: DeliveryFactory
) -> None:
    mailbox, port = smtp_server()
    text = "ALERT churn: drift of Plan\nPSI 0.4 in the day\nOwner: maria@example.com"
    sent = delivery(action="alert.raised", text=text, context={"owner": "maria@example.com"})
    assert connector(port, to=[]).send(sent).outcome == "delivered"
    [(recipients, message)] = mailbox.messages
    assert recipients == ["maria@example.com"] and message["To"] == "maria@example.com"
    # a decision has no owner to fall back on; an alert given recipients goes to them alone
    decided = connector(port, to=[]).send(delivery())
    assert decided.outcome == "failed" and "mail.to rendered to no recipient" in decided.detail
    assert connector(port).send(sent).outcome == "delivered"
    assert mailbox.messages[-1][0] == ["retention@example.com"]
