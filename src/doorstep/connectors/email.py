"""The e-mail connector: one message per delivery, sent through an SMTP server.

The message is ``multipart/alternative``: a plain-text part (the spec's ``body`` template, or the
decision and its reasons) and an HTML part with the same content, every value escaped. Its
``Message-ID`` is derived from the delivery key, so a message sent again after an unclear first
attempt is recognisable as the same one (and the ``X-Doorstep-Delivery`` header carries the key).

Each send opens its own connection: mail servers drop idle connections, and threads then never
share one. The host is resolved and vetted once per send by
:func:`doorstep.connectors.net.check_address`, and the connection goes to those very addresses,
so a second lookup cannot point it elsewhere; STARTTLS still checks the certificate against the
host name.

The connection's ``timeout`` applies to each step; the attempt's
:class:`~doorstep.connectors.deadline.Deadline` to the whole conversation (a watchdog shuts the
connection down when it passes, or when the worker stops).

Outcomes: accepted → ``delivered``; an SMTP 4xx answer, a refused or dropped connection or a
timeout (also the attempt's deadline) → ``retry``; a 5xx answer (recipient refused, message
rejected, bad credentials) or a template that does not render → ``failed``.
"""

from __future__ import annotations

import builtins
import hashlib
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from html import escape
from numbers import Real
from typing import Any, ClassVar

from pydantic import BaseModel

from doorstep.connectors.base import ConnectorContext, Message, SendOutcome, SendResult, redact
from doorstep.connectors.deadline import Deadline
from doorstep.connectors.net import (
    ResolvedAddress,
    check_address,
    parse_networks,
)
from doorstep.connectors.templates import TemplateRenderError, render
from doorstep.core.spec.models import EmailConnectorSpec
from doorstep.errors import AddressNotAllowedError

__all__ = ["EmailConnector"]


class EmailConnector:
    """Sends each delivery as one e-mail through ``host:port`` (see the module docstring)."""

    type: ClassVar[str] = "email"
    spec_model: ClassVar[builtins.type[BaseModel]] = EmailConnectorSpec

    def __init__(self, spec: EmailConnectorSpec, context: ConnectorContext) -> None:
        self.spec = spec
        self.context = context
        self._where = f"connectors.{context.name}"
        self._hidden = [s for s in (*context.secrets, spec.password or "") if s]
        _, sender = parseaddr(spec.sender)
        self._envelope_from = sender or spec.sender
        self._domain = sender.rpartition("@")[2] or "doorstep.invalid"

    @classmethod
    def from_spec(cls, spec: BaseModel, context: ConnectorContext) -> EmailConnector:
        """Build the connector; nothing is resolved or connected before the first send."""
        if not isinstance(spec, EmailConnectorSpec):
            raise TypeError(
                f"The 'spec' parameter of EmailConnector.from_spec must be an "
                f"EmailConnectorSpec. Got {type(spec).__name__} instead."
            )
        parse_networks(spec.allow_networks, connector=context.name)
        return cls(spec, context)

    def send(self, delivery: Message) -> SendResult:
        """Render and send one message; never raises for a failed delivery."""
        try:
            message, recipients = self._message(delivery)
        except (TemplateRenderError, ValueError) as error:
            return SendResult("failed", self._redact(str(error)))
        if not recipients:
            return SendResult("failed", f"{self._where}.to rendered to no recipient address")
        spec = self.spec
        try:
            addresses = check_address(
                spec.host, spec.port, spec.allow_networks, connector=self.context.name
            )
        except AddressNotAllowedError as error:  # only a change of the spec can help
            return SendResult("failed", self._redact(error.message))
        except OSError as error:
            return SendResult("retry", self._redact(f"cannot resolve {spec.host}: {error}"))
        deadline = delivery.deadline
        try:
            refused = self._transmit(addresses, message, recipients, deadline)
        except (smtplib.SMTPException, OSError) as error:
            if deadline is not None and deadline.expired:  # cut short, whatever it looked like
                return deadline.give_up(f"talking to {spec.host}:{spec.port}")
            return self._failure(error)
        accepted = len(recipients) - len(refused)
        detail = f"accepted by {self.spec.host} for {accepted} recipient(s)"
        if refused:
            codes = ", ".join(f"{to} ({code})" for to, (code, _) in sorted(refused.items()))
            detail += f"; refused: {codes}"
        return SendResult("delivered", self._redact(detail))

    def _failure(self, error: smtplib.SMTPException | OSError) -> SendResult:
        """The outcome of a send that raised (see the module docstring)."""
        if isinstance(error, smtplib.SMTPRecipientsRefused):
            return _refused_result(error.recipients, self._redact)
        if isinstance(error, smtplib.SMTPResponseException):
            return _answer_result(error.smtp_code, error.smtp_error, self._redact)
        if isinstance(error, smtplib.SMTPServerDisconnected):
            return SendResult("retry", self._redact(f"the SMTP server disconnected: {error}"))
        if isinstance(error, smtplib.SMTPException):  # e.g. no AUTH or STARTTLS: a setup issue
            return SendResult("failed", self._redact(f"SMTP: {error}"))
        if isinstance(error, ssl.SSLCertVerificationError):
            detail = f"TLS certificate of {self.spec.host} not trusted: {error.verify_message}"
            return SendResult("retry", self._redact(detail))
        # refused, unreachable, timed out, TLS handshake failed
        detail = f"cannot reach {self.spec.host}:{self.spec.port}: {_describe(error)}"
        return SendResult("retry", self._redact(detail))

    def close(self) -> None:
        """Nothing to release: every send uses its own connection."""

    def _message(self, delivery: Message) -> tuple[EmailMessage, list[str]]:
        context = delivery.context
        spec = self.spec
        recipients = [
            address.strip()
            for i, template in enumerate(spec.to)
            for address in render(template, context, where=f"{self._where}.to[{i}]").split(",")
            if address.strip()
        ]
        if not spec.to and delivery.text is not None:  # an alert, by default to the app's owner
            recipients = [a for a in [str(context.get("owner") or "").strip()] if a]
        if delivery.text is not None:  # an alert: its first line is the subject
            subject = "doorstep: " + delivery.text.split("\n", 1)[0]
        else:
            subject = render(spec.subject, context, where=f"{self._where}.subject")
        message = EmailMessage()
        message["Subject"] = " ".join(subject.split())
        message["From"] = spec.sender
        message["To"] = ", ".join(recipients)
        message["Date"] = formatdate(localtime=True)
        message["Message-ID"] = message_id(delivery.key, self._domain)
        message["X-Doorstep-Delivery"] = delivery.key
        message["Auto-Submitted"] = "auto-generated"
        if delivery.text is not None:
            message.set_content(delivery.text + "\n")
            message.add_alternative(_html_page(_paragraphs(delivery.text)), subtype="html")
        elif spec.body is None:
            message.set_content(text_body(context))
            message.add_alternative(html_body(context), subtype="html")
        else:
            text = render(spec.body, context, where=f"{self._where}.body")
            message.set_content(text)
            message.add_alternative(_html_page(_paragraphs(text)), subtype="html")
        return message, recipients

    def _transmit(
        self,
        addresses: list[ResolvedAddress],
        message: EmailMessage,
        recipients: list[str],
        deadline: Deadline | None,
    ) -> dict[str, tuple[int, bytes]]:
        spec = self.spec
        timeout = spec.timeout if deadline is None else deadline.limit(spec.timeout)
        smtp = _PinnedSMTP(spec.host, addresses, timeout, deadline)
        watch = nullcontext() if deadline is None else deadline.watch(smtp.shut_down)
        with watch, smtp:  # the watch also covers the QUIT on leaving
            smtp.connect(spec.host, spec.port)
            if spec.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if spec.username:
                smtp.login(spec.username, spec.password or "")
            return smtp.send_message(message, self._envelope_from, recipients)

    def _redact(self, text: str) -> str:
        return redact(text, self._hidden)


class _PinnedSMTP(smtplib.SMTP):
    """An SMTP client that connects only to addresses vetted beforehand, trying each in turn,
    while keeping the host name for the greeting and the STARTTLS certificate check. It is
    made unconnected (:meth:`connect` it), so that the greeting is read under the attempt's
    deadline too; :meth:`shut_down` wakes whatever waits on its socket."""

    def __init__(
        self,
        host: str,
        addresses: list[ResolvedAddress],
        timeout: float,
        deadline: Deadline | None,
    ) -> None:
        self._addresses = addresses
        self._deadline = deadline
        super().__init__(timeout=timeout)  # no host: not connected yet
        self._host = host  # what STARTTLS checks the certificate against

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        error: OSError = OSError(f"{host} resolved to no permitted address")
        for address in self._addresses:
            try:
                sock = socket.create_connection((address.host, port), timeout, self.source_address)
            except OSError as exc:
                error = exc
                continue
            if self._deadline is not None and self._deadline.expired:  # a watch that came early
                sock.close()
                raise TimeoutError("the attempt's deadline passed while connecting")
            return sock
        raise error

    def shut_down(self) -> None:
        """Shut the connection down from another thread: a read or write blocked on it ends
        (under TLS too; the TLS object the blocked call uses is left alone)."""
        sock = self.sock
        if isinstance(sock, socket.socket):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def message_id(key: str, domain: str) -> str:
    """The ``Message-ID`` of every attempt of one delivery: a digest of its key at ``domain``."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"<doorstep.{digest}@{domain}>"


def text_body(context: Mapping[str, Any]) -> str:
    """The default plain-text part: the action, the score, the reasons and the decision's link."""
    lines = [f"{_headline(context)}", "", f"Score: {_number(context.get('score'))}"]
    if context.get("rule"):
        lines.append(f"Rule: {context['rule']}")
    sentences = list(_sentences(context))
    if sentences:
        lines += ["", "Why:", *(f"- {sentence}" for sentence in sentences)]
    if context.get("decision_url"):
        lines += ["", f"Decision: {context['decision_url']}"]
    return "\n".join(lines) + "\n"


def html_body(context: Mapping[str, Any]) -> str:
    """The default HTML part: the same content as :func:`text_body`, every value escaped."""
    parts = [
        f"<p><strong>{escape(_headline(context))}</strong></p>",
        f"<p>Score: {escape(_number(context.get('score')))}</p>",
    ]
    if context.get("rule"):
        parts.append(f"<p>Rule: {escape(str(context['rule']))}</p>")
    sentences = list(_sentences(context))
    if sentences:
        items = "".join(f"<li>{escape(sentence)}</li>" for sentence in sentences)
        parts.append(f"<p>Why:</p><ul>{items}</ul>")
    url = str(context.get("decision_url") or "")
    if url.startswith(("https://", "http://")):  # never a javascript: or data: link
        parts.append(f'<p><a href="{escape(url)}">Open the decision</a></p>')
    elif url:
        parts.append(f"<p>Decision: {escape(url)}</p>")
    return _html_page("\n".join(parts))


def _headline(context: Mapping[str, Any]) -> str:
    action = context.get("action", "action")
    entity = context.get("entity_id", "?")
    app = context.get("app")
    return f"{action} for {entity}" + (f" ({app})" if app else "")


def _sentences(context: Mapping[str, Any]) -> Iterable[str]:
    for reason in context.get("reasons") or []:
        if isinstance(reason, Mapping) and reason.get("sentence"):
            yield str(reason["sentence"])
        elif isinstance(reason, str):
            yield reason


def _number(value: Any) -> str:
    if isinstance(value, Real) and not isinstance(value, bool):
        return f"{float(value):.3f}"
    return "n/a" if value is None else str(value)


def _paragraphs(text: str) -> str:
    blocks = [block.strip() for block in text.split("\n\n") if block.strip()]
    return "\n".join(f"<p>{escape(block).replace(chr(10), '<br>')}</p>" for block in blocks)


def _html_page(content: str) -> str:
    head = '<!DOCTYPE html>\n<html><body style="font-family: sans-serif">'
    return f"{head}\n{content}\n</body></html>\n"


def _describe(error: OSError) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _refused_result(
    recipients: Mapping[str, tuple[int, bytes]], hide: Callable[[str], str]
) -> SendResult:
    codes = sorted(code for code, _ in recipients.values())
    outcome: SendOutcome = "retry" if all(400 <= code < 500 for code in codes) else "failed"
    listed = ", ".join(
        f"{to} ({code} {_text(reply)})" for to, (code, reply) in sorted(recipients.items())
    )
    return SendResult(outcome, hide(f"every recipient refused: {listed}"), status=codes[-1])


def _answer_result(code: int, reply: bytes | str, hide: Callable[[str], str]) -> SendResult:
    outcome: SendOutcome = "retry" if 400 <= code < 500 or code < 0 else "failed"
    return SendResult(outcome, hide(f"SMTP {code} {_text(reply)}"), status=code)


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())[:300]
