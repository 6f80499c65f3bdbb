"""Feature sources checked before they serve: ``doorstep validate`` and the start-up of
``serve`` open every source of a spec and probe it (``probe()``: connect, run the lookup for no
id, PING, look the Feast features up).

What can never work is a problem of the spec, located at its key (``file:line
features.<source>.<key>``): a driver that is not installed, a host that does not exist, a SQLite
file that does not exist, a table, column or query the database refuses, a Feast feature that
is not there. ``validate`` exits 1 and ``serve`` does not start. A source that cannot be reached
*now* (connection refused, a timeout, a login refused) is a warning: ``serve`` starts, answers
503 ``feature_source_unavailable`` for the records that need that source, and decides as soon
as it answers (a database restarting with the app must not keep the app down).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from doorstep.connectors.base import redact
from doorstep.core.spec.loader import SpecDocument
from doorstep.errors import (
    ConnectorSpecError,
    FeatureSourceUnavailableError,
    PluginError,
    SpecIssue,
)
from doorstep.plugins import open_source
from doorstep.services.deliver.connectors import secret_values

__all__ = ["SourceReport", "check_sources"]


@dataclass(frozen=True)
class SourceReport:
    """What the probes of an app's sources found."""

    issues: list[SpecIssue]
    """Sources that can never work, located in the spec."""
    warnings: list[str]
    """Sources that cannot be reached now (``file:line key: message``)."""


def check_sources(doc: SpecDocument, root: Path) -> SourceReport:
    """Open and probe every feature source of ``doc`` (the spec in folder ``root``), then close
    it. Each probe is bounded by its source's ``timeout``."""
    spec = doc.spec
    secrets = secret_values(doc)
    fields = list(spec.inputs.fields)
    issues: list[SpecIssue] = []
    warnings: list[str] = []
    for name, settings in spec.features.items():
        where = ("features", name)
        try:
            source = open_source(
                name, settings, id_field=spec.inputs.id, fields=fields, base_dir=root
            )
        except PluginError as exc:
            issues.append(doc.issue((*where, "type"), redact(exc.message, secrets)))
            continue
        except ConnectorSpecError as exc:
            issues.append(doc.issue((*where, exc.key), redact(_said(exc), secrets)))
            continue
        try:
            probe = getattr(source, "probe", None)
            if probe is not None:
                probe()
        except ConnectorSpecError as exc:
            issues.append(doc.issue((*where, exc.key), redact(_said(exc), secrets)))
        except FeatureSourceUnavailableError as exc:
            warnings.append(str(doc.issue(where, redact(_down(exc.message), secrets))))
        except Exception as exc:  # noqa: BLE001 - a plugin's probe failing in its own way
            message = _down(f"feature source {name!r} ({source.kind}) failed: {exc}")
            warnings.append(str(doc.issue(where, redact(message, secrets))))
        finally:
            source.close()
    return SourceReport(issues, warnings)


def _said(exc: ConnectorSpecError) -> str:
    """The message without the ``connector 'x' key:`` prefix (the issue names the key)."""
    return exc.message.removeprefix(f"connector {exc.connector!r} {exc.key}: ")


def _down(message: str) -> str:
    return (
        f"{message.removesuffix('; retry later')} — it cannot be reached now: serve starts and "
        "answers 503 for the records that need it until it answers"
    )
