"""The model card's page per registered version: what it is (file, hash, owner, notes, who
registered it), what it was checked against, every change of its stage and every promotion of
it with its approvals, and its live figures in the card's range — its own decisions (or, for a
shadow, its shadow rows) with quality, ROI and override rate, set against the champion's by
:func:`doorstep.services.rollout.compare.compare_versions` with the verdict."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from doorstep.core.spec.models import Spec
from doorstep.errors import DoorstepError
from doorstep.services.rollout.compare import compare_versions
from doorstep.services.rollout.compare_report import VersionSide
from doorstep.store.protocols import ChallengerStore, ModelVersionStore

__all__ = ["VersionPage", "VersionsStore", "version_pages"]


class VersionsStore(ModelVersionStore, ChallengerStore, Protocol):
    """What the versions' pages read: the versions, their stages and their decisions."""


@dataclass(frozen=True)
class VersionPage:
    """One registered version as the card shows it."""

    version: str
    stage: str
    served: bool
    """The version the card's app serves now (the champion, or the spec's model)."""
    content_hash: str
    owner: str
    registered_at: datetime | None
    registered_by: str
    notes: str
    path: str
    checks: tuple[str, ...]
    """What it was checked against, in sentences."""
    history: tuple[dict[str, Any], ...]
    """Its changes of stage, oldest first: ``at``, ``from_stage``, ``to_stage``, ``share``,
    ``actor``, ``reason``."""
    promotions: tuple[dict[str, Any], ...]
    """Promotions of it, oldest first, each with its ``approvals``."""
    live: VersionSide | None
    """Its figures in the card's range (``None``: it decided and shadowed nothing there)."""
    verdict: str
    """Against the champion, in words (empty for the champion itself)."""


def version_pages(
    spec: Spec,
    store: VersionsStore,
    *,
    served: str,
    since: datetime,
    until: datetime,
    now: datetime,
) -> tuple[VersionPage, ...]:
    """A page per registered version of ``spec``'s app, the served one first, then newest
    registered first; live figures of ``[since, until)`` compared with ``served``."""
    app = spec.app.name
    rows = store.model_versions(app)
    history = store.model_stage_history(app)
    promotions = store.model_promotions(app)
    ranked = sorted(rows, key=lambda r: r.get("registered_at") or now, reverse=True)
    ranked.sort(key=lambda r: r["version"] != served)
    pages = []
    for row in ranked:
        version = str(row["version"])
        live, verdict = _live(spec, store, served, version, since, until, now)
        pages.append(
            VersionPage(
                version=version,
                stage=str(row.get("stage") or ""),
                served=version == served,
                content_hash=str(row["content_hash"]),
                owner=str(row.get("owner") or ""),
                registered_at=row.get("registered_at"),
                registered_by=str(row.get("registered_by") or ""),
                notes=str(row.get("notes") or ""),
                path=str(row.get("path") or ""),
                checks=_checks(row),
                history=tuple(c for c in history if c["version"] == version),
                promotions=tuple(p for p in promotions if p["version"] == version),
                live=live,
                verdict=verdict,
            )
        )
    return tuple(pages)


def _live(
    spec: Spec,
    store: VersionsStore,
    served: str,
    version: str,
    since: datetime,
    until: datetime,
    now: datetime,
) -> tuple[VersionSide | None, str]:
    """``version``'s side of a comparison with ``served`` over the range, and the verdict."""
    try:
        if version == served:
            found = compare_versions(
                spec, store, champion=served, since=since, until=until, now=now
            )
            side = found.champion
            return (side if side.decisions else None), ""
        found = compare_versions(
            spec, store, champion=served, challenger=version, since=since, until=until, now=now
        )
    except DoorstepError:  # it decided and shadowed nothing in the range
        return None, ""
    return found.challenger, found.verdict


def _checks(row: dict[str, Any]) -> tuple[str, ...]:
    reference = row.get("reference")
    checked = (
        "Checked when registered as at load time: its inputs against the spec's contract, "
        "the categories, the policy's columns"
    )
    if reference:
        return (f"{checked}, and its explanations adding up on the reference data {reference}.",)
    return (f"{checked} (no reference data was named, so explanations were not checked).",)
