"""The chat connector: post each action to a Slack-compatible incoming webhook.

The message is JSON ``{"text": ..., "blocks": [...]}``, the format Slack incoming webhooks take
(Mattermost, Rocket.Chat and Discord's ``/slack`` endpoints accept it too). ``text`` is what
notifications show; the blocks lay out the same content: a headline (the action, the entity and
the score, or the spec's ``text`` template), the reasons as a bulleted list, and a link to the
decision's page. Values are escaped for Slack's ``mrkdwn`` (``&``, ``<``, ``>``), so an entity id
or reason cannot inject links or mentions.

The URL of an incoming webhook is itself a credential: it is never shown in results or errors
(only its scheme and host), and it should come from the environment (``${OPS_CHAT_WEBHOOK}``).
The guard, timeouts, outcomes and no-redirect rule are the webhook connector's
(:mod:`doorstep.connectors.http`).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import BaseModel

from doorstep.connectors.base import ConnectorContext, Message, SendResult
from doorstep.connectors.http import JSONPoster, encode_json
from doorstep.connectors.templates import TemplateRenderError, render
from doorstep.core.spec.models import ChatConnectorSpec

__all__ = ["ChatConnector", "build_message"]

MAX_REASONS = 10
"""Reasons listed in a message; the decision page has them all."""
_SECTION_LIMIT = 3000
"""Characters Slack accepts in one section's text."""


def build_message(context: Mapping[str, Any], text: str | None = None) -> dict[str, Any]:
    """The JSON message of one delivery; ``text`` (already rendered) replaces the headline."""
    headline = text if text is not None else _headline(context)
    reasons = [
        f"• {_escape(str(r['sentence']))}"
        for r in list(context.get("reasons") or [])[:MAX_REASONS]
        if isinstance(r, Mapping) and r.get("sentence")
    ]
    url = context.get("decision_url")
    link = f"<{quote(str(url), safe=':/?#[]@!$&()*+,;=%~')}|Open the decision>" if url else None
    blocks: list[dict[str, Any]] = [_section(headline)]
    if reasons:
        blocks.append(_section("\n".join(reasons)))
    if link:
        facts = [
            link,
            *(_escape(str(context[k])) for k in ("app", "model_version") if k in context),
        ]
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(facts)}]}
        )
    if text is None:
        text = "\n".join([headline, *reasons, *([f"Decision: {link}"] if link else [])])
    return {"text": text, "blocks": blocks}


class ChatConnector:
    """Posts a message per action to a Slack-compatible incoming webhook."""

    spec_model: ClassVar[type[BaseModel]] = ChatConnectorSpec
    type: ClassVar[str] = "chat"

    def __init__(
        self,
        spec: ChatConnectorSpec,
        context: ConnectorContext,
        *,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.name = context.name
        self._text = spec.text
        self._poster = JSONPoster(
            connector=context.name,
            url=spec.url,
            allow_networks=spec.allow_networks,
            timeout=spec.timeout,
            secrets={*context.secrets, spec.url},
            verify=verify,
        )

    @classmethod
    def from_spec(cls, spec: BaseModel, context: ConnectorContext) -> ChatConnector:
        """Check the URL and ``allow_networks``; no network I/O."""
        if not isinstance(spec, ChatConnectorSpec):
            raise TypeError(f"expected a ChatConnectorSpec, got {type(spec).__name__}")
        return cls(spec, context)

    def send(self, delivery: Message) -> SendResult:
        """Post once; a ``text`` template that cannot be rendered fails the delivery. A
        delivery with a ready :attr:`~Message.text` (an alert) is posted as it is."""
        if delivery.text is not None:
            message = {"text": delivery.text, "blocks": [_section(_escape(delivery.text))]}
            return self._poster.post(encode_json(message), {}, deadline=delivery.deadline)
        try:
            text = None
            if self._text is not None:
                text = render(self._text, delivery.context, where=f"connectors.{self.name}.text")
            body = encode_json(build_message(delivery.context, text))
        except TemplateRenderError as error:
            return SendResult("failed", self._poster.redact(str(error)))
        except ValueError as error:
            return SendResult("failed", self._poster.redact(f"message is not JSON: {error}"))
        return self._poster.post(body, {}, deadline=delivery.deadline)

    def close(self) -> None:
        """Close pooled connections."""
        self._poster.close()


def _headline(context: Mapping[str, Any]) -> str:
    action = _escape(str(context.get("action", "action")))
    entity = _escape(str(context.get("entity_id", "?")))
    parts = [f"*{action}* for *{entity}*"]
    if "score" in context:
        parts.append(f"score {_number(context['score'])}")
    if context.get("predicted_class") is not None:
        parts.append(f"class {_escape(str(context['predicted_class']))}")
    return " · ".join(parts)


def _section(text: str) -> dict[str, Any]:
    if len(text) > _SECTION_LIMIT:
        text = text[: _SECTION_LIMIT - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _number(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    return _escape(str(value))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
