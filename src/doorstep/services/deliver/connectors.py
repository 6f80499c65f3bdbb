"""The connectors of an app: built from its spec through the ``doorstep.connectors`` entry points,
with the secrets that came from the environment kept out of every detail and log line. What the
dispatcher (:mod:`doorstep.services.deliver.dispatcher`) sends through, and what ``doorstep
validate`` and ``doorstep worker`` build to check a spec.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from doorstep.connectors.base import Connector, ConnectorContext, redact
from doorstep.connectors.net import address_kind, parse_networks
from doorstep.core.spec.loader import SpecDocument
from doorstep.core.spec.models import Spec
from doorstep.errors import ConnectorSpecError, DoorstepError, PluginError, SpecError, SpecIssue
from doorstep.plugins import connector_factory
from doorstep.services.apps.loading import read_spec
from doorstep.services.apps.registry import discover_specs
from doorstep.services.deliver.template_check import check_templates

__all__ = [
    "AppConnectors",
    "SpecFile",
    "SpecSource",
    "guard_warnings",
    "load_connectors",
    "open_app_connectors",
    "read_app_connectors",
    "secret_values",
]

MIN_SECRET = 4
"""Shorter values from the environment are not treated as secrets (they would redact ``true``,
port numbers and the like everywhere)."""
MIN_WORD = 8
"""Shorter words of a secret value do not count on their own."""
_URL_PUNCTUATION = re.compile(r"[/?#&=;,]+")


class SpecSource(Protocol):
    """An app's parsed spec and its folder: :class:`~doorstep.services.apps.loading.LoadedApp`
    is one."""

    @property
    def doc(self) -> SpecDocument: ...

    @property
    def root(self) -> Path: ...


@dataclass(frozen=True)
class SpecFile:
    """A spec read without its model (a worker delivers; it does not decide)."""

    doc: SpecDocument
    root: Path

    @property
    def spec(self) -> Spec:
        return self.doc.spec


def secret_values(doc: SpecDocument) -> frozenset[str]:
    """The values of a spec that came from the environment, to be kept out of attempt details
    and logs (:class:`~doorstep.connectors.base.Redactor` also finds them URL-encoded).

    Each value a ``${VAR}`` became counts, in whichever key it sits (a token in a URL's path
    counts alone, so a receiver echoing the path or a redirect's ``Location`` does not show
    it), and so do its long words; a URL's words are its path and query (whole, and each
    segment, name and value), fragment and login, not its scheme, host and port, which details
    show (``connection to https://crm.example.com failed``). A key whose value mixes text and a
    variable (``Bearer ${TOKEN}``) also counts whole and by its long words. Values shorter than
    :data:`MIN_SECRET` characters and words shorter than :data:`MIN_WORD` do not count."""
    data = doc.spec.model_dump(by_alias=True)
    found: set[str] = set()
    for text in doc.env_values:
        _add(found, text)
    for key in doc.secret_keys:
        value: Any = data
        for part in key:
            try:
                value = value[part]
            except (KeyError, IndexError, TypeError):
                value = None
                break
        if value is None or isinstance(value, dict | list):
            continue
        _add(found, str(value))
    return frozenset(found)


def _add(found: set[str], text: str) -> None:
    if len(text) >= MIN_SECRET:
        found.add(text)
    for word in text.split():
        if len(word) >= MIN_WORD:
            found.add(word)
        found.update(_url_words(word))


def _url_words(word: str) -> set[str]:
    """The parts of a URL that may carry a credential (none when ``word`` is not a URL)."""
    try:
        parts = urlsplit(word)
        login = [parts.username or "", parts.password or ""]
    except ValueError:  # e.g. a port that is not a number
        return set()
    if not (parts.scheme and parts.netloc):
        return set()
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    pieces = {target, parts.path, parts.query, parts.fragment, *login}
    pieces.update(_URL_PUNCTUATION.split(target + "&" + parts.fragment))
    return {p for p in pieces if len(p) >= MIN_WORD}


def guard_warnings(doc: SpecDocument) -> tuple[str, ...]:
    """Connector targets written as a literal address (or ``localhost``) that the network
    guard will refuse on every send, because no ``allow_networks`` entry admits them: said at
    the key (``doorstep validate``), where otherwise every delivery would fail later."""
    found: list[str] = []
    secrets = secret_values(doc)
    for name, spec in doc.spec.connectors.items():
        target = _target(spec)
        if target is None:
            continue
        key, host = target
        address = _literal_address(host)
        if address is None:
            continue
        kind = address_kind(address)
        try:
            allowed = parse_networks(getattr(spec, "allow_networks", []), connector=name)
        except ConnectorSpecError:
            continue  # reported as an error when the connector is built
        if kind is None or any(address.version == n.version and address in n for n in allowed):
            continue
        single = f"{address}/{address.max_prefixlen}"
        shown = host if host.lower().rstrip(".").endswith("localhost") else str(address)
        message = (
            f"{shown} is a {kind} address, which the network guard refuses unless "
            f"connectors.{name}.allow_networks lists it: every delivery would fail. Add it "
            f"(allow_networks: [{single}]) if the target is meant to be there"
        )
        found.append(str(doc.issue(("connectors", name, key), redact(message, secrets))))
    return tuple(found)


def _target(spec: Any) -> tuple[str, str] | None:
    """The key and host of a connector's network target (``None`` for files, sockets, SQLite
    and plugins)."""
    host = getattr(spec, "host", None)
    if isinstance(host, str) and spec.type == "email":
        return "host", host
    url = getattr(spec, "url", None)
    if not isinstance(url, str):
        return None
    if spec.type == "sql":
        try:
            parsed = make_url(url)
        except ArgumentError:
            return None
        if parsed.get_backend_name() == "sqlite" or not parsed.host:
            return None
        return "url", parsed.host
    try:
        return "url", urlsplit(url).hostname or ""
    except ValueError:
        return None


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    name = host.strip("[]").split("%", 1)[0]
    if name.lower().rstrip(".") == "localhost" or name.lower().endswith(".localhost"):
        return ipaddress.IPv4Address("127.0.0.1")
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def load_connectors(app: SpecSource) -> dict[str, Connector]:
    """Build every connector of the app's spec through the ``doorstep.connectors`` entry points.

    Raises :class:`SpecError` located at the connector's key when its type is not installed or
    its settings are refused; connectors built before the failure are closed."""
    doc, secrets = app.doc, secret_values(app.doc)
    check_templates(doc)
    built: dict[str, Connector] = {}
    try:
        for name, spec in doc.spec.connectors.items():
            built[name] = _build(doc, app.root, name, spec, secrets)
    except BaseException:
        for connector in built.values():
            connector.close()
        raise
    return built


def _build(
    doc: SpecDocument, root: Path, name: str, spec: Any, secrets: frozenset[str]
) -> Connector:
    where = ("connectors", name)
    try:
        factory = connector_factory(spec.type, connector=name)
        model = getattr(factory, "spec_model", None)
        if model is not None and not isinstance(spec, model):
            spec = model.model_validate(spec.model_dump(by_alias=True))
        return factory.from_spec(spec, ConnectorContext(name=name, base_dir=root, secrets=secrets))
    except PluginError as exc:
        raise SpecError([doc.issue((*where, "type"), exc.message)]) from None
    except ConnectorSpecError as exc:  # located at its key, e.g. allow_networks[1]
        parts = [int(p) if p.isdigit() else p for p in re.findall(r"[^\[\].]+", exc.key)]
        raise SpecError([doc.issue((*where, *parts), redact(exc.message, secrets))]) from None
    except DoorstepError as exc:
        raise SpecError([doc.issue(where, redact(exc.message, secrets))]) from None
    except Exception as exc:  # a plugin refusing its settings
        message = f"the {spec.type} connector refused its settings: {type(exc).__name__}: {exc}"
        raise SpecError([doc.issue(where, redact(message, secrets))]) from None


@dataclass
class AppConnectors:
    """One app's spec (actions, payload templates, retry schedules) and live connectors."""

    spec: Spec
    connectors: Mapping[str, Connector]
    secrets: frozenset[str] = field(default_factory=frozenset)

    @property
    def name(self) -> str:
        return self.spec.app.name

    def close(self) -> None:
        for connector in self.connectors.values():
            connector.close()


def open_app_connectors(app: SpecSource) -> AppConnectors:
    """An app's connectors, ready for :class:`~doorstep.services.deliver.dispatcher.Dispatcher`."""
    return AppConnectors(app.doc.spec, load_connectors(app), secret_values(app.doc))


def read_app_connectors(
    paths: Sequence[Path], env: Mapping[str, str] | None = None
) -> list[AppConnectors]:
    """Read specs (files, or folders of them) without loading their models, and build their
    connectors: what ``doorstep worker`` needs. Every broken spec is reported."""
    opened: list[AppConnectors] = []
    issues: list[SpecIssue] = []
    names: dict[str, Path] = {}
    try:
        for path in discover_specs(paths):
            try:
                doc = read_spec(path, env)
                if doc.spec.app.name in names:
                    raise SpecError(
                        [
                            doc.issue(
                                ("app", "name"),
                                f"app {doc.spec.app.name!r} is already read from "
                                f"{names[doc.spec.app.name]}; give each app its own name",
                            )
                        ]
                    )
                opened.append(open_app_connectors(SpecFile(doc, path.resolve().parent)))
                names[doc.spec.app.name] = path
            except SpecError as exc:
                issues += exc.issues
        if issues:
            raise SpecError(issues)
    except BaseException:
        for app in opened:
            app.close()
        raise
    return opened
