"""The monitoring report's section on model versions (:class:`~doorstep.types.versions.
VersionsSection`): when the app has a challenger (a shadow or a canary now) or more than one
version decided or shadowed in the range, the champion against the challenger as
``doorstep models compare`` sets them (:func:`~doorstep.services.rollout.compare.
compare_versions`), and each version's scores against the champion's and the reference data's
with the drift statistics of the report's drift section (PSI, Jensen-Shannon, KS, Wasserstein;
thresholds of ``monitoring.drift``).

The scores are read once per range: the decisions' (by the version that decided each) and each
shadow's rows. A version that both decided (a canary) and shadowed in the range has a row for
each."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Protocol

import polars as pl

from doorstep.core.spec.models import Spec
from doorstep.core.stats.drift import (
    DEFAULT_THRESHOLDS,
    DriftThresholds,
    ReferenceProfile,
    numeric_drift,
)
from doorstep.core.stats.profile import numeric_reference
from doorstep.core.stats.tally import NumericTally
from doorstep.errors import DoorstepError
from doorstep.services.rollout.compare import compare_versions
from doorstep.store.protocols import ChallengerStore, ModelVersionStore, ShadowStore
from doorstep.types.monitoring import MonitoringReport
from doorstep.types.versions import VersionScoreDrift, VersionsSection

__all__ = ["VersionsReportStore", "versions_section", "with_versions"]

_SCORE = "score"
_VERSION, _SCORE_AT = 3, 5  # of the store's replay rows (REPLAY_COLUMNS)


class VersionsReportStore(ModelVersionStore, ChallengerStore, ShadowStore, Protocol):
    """What the section reads: the versions' stages, decisions and shadow rows."""


def with_versions(
    spec: Spec,
    store: VersionsReportStore,
    report: MonitoringReport,
    *,
    profile: ReferenceProfile | None = None,
    thresholds: DriftThresholds = DEFAULT_THRESHOLDS,
) -> MonitoringReport:
    """``report`` with its versions section filled for its own range (``doorstep monitor``,
    ``doorstep report`` and ``GET /v1/apps/{app}/monitoring`` all fill it here); unchanged when
    the app has one version only there and no challenger now."""
    section = versions_section(
        spec, store, since=report.since, until=report.until, now=report.generated_at,
        profile=profile, thresholds=thresholds,
    )  # fmt: skip
    return report if section is None else replace(report, versions=section)


def versions_section(
    spec: Spec,
    store: VersionsReportStore,
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    profile: ReferenceProfile | None = None,
    thresholds: DriftThresholds = DEFAULT_THRESHOLDS,
) -> VersionsSection | None:
    """The section for ``[since, until)``; ``None`` when the app has one version only there
    and no challenger now."""
    app = spec.app.name
    stages = {str(r["version"]): str(r["stage"]) for r in store.model_versions(app)}
    between = {"since": since, "until": until}
    decided = {c.model_version: c.decisions for c in store.version_counts(app, **between)}
    shadowed = {c.model_version: c.decisions for c in store.shadow_counts(app, **between)}
    champion = next((v for v, s in stages.items() if s == "champion"), None)
    if champion is None and decided:
        champion = max(decided, key=lambda v: decided[v])
    challengers = any(s in ("shadow", "canary") for s in stages.values())
    if champion is None or (not challengers and not (set(decided) | set(shadowed)) - {champion}):
        return None
    try:
        found = compare_versions(spec, store, champion=champion, since=since, until=until, now=now)
        comparison, verdict = found.as_dict(), found.verdict
    except DoorstepError as exc:  # e.g. no outcome field to compare on: say why
        comparison = {"champion": None, "challenger": None, "mode": None}
        verdict = exc.message
    tallies = _decision_scores(store, app, since, until)
    rows = [(v, _role(stages.get(v), champion == v), t) for v, t in tallies.items()]
    for version in shadowed:
        tally = NumericTally(_SCORE)
        for page in store.iter_shadow(app, version, since=since, until=until):
            tally.add(pl.Series(_SCORE, [s.score for s in page], dtype=pl.Float64))
        rows.append((version, "shadow", tally))
    base = tallies.get(champion)
    reference = (
        None
        if base is None or not base.rows
        else numeric_reference(base, profile.psi_bins if profile else 10, None)
    )
    drift = []
    for version, role, tally in sorted(rows, key=lambda r: (r[0] != champion, r[0], r[1])):
        against = (
            None
            if reference is None or (version == champion and role == "champion") or not tally.rows
            else numeric_drift(reference, tally, thresholds)
        )
        scored = profile.score if profile is not None else None
        ref_drift = (
            None if scored is None or not tally.rows else numeric_drift(scored, tally, thresholds)
        )
        drift.append(VersionScoreDrift(version, role, tally.rows, against, ref_drift))
    return VersionsSection(champion, comparison, verdict, tuple(drift))


def _decision_scores(
    store: VersionsReportStore, app: str, since: datetime, until: datetime
) -> dict[str, NumericTally]:
    tallies: dict[str, NumericTally] = {}
    for page in store.iter_replay(app, since=since, until=until):
        by_version: dict[str, list[float]] = {}
        for row in page:
            by_version.setdefault(str(row[_VERSION]), []).append(float(row[_SCORE_AT]))
        for version, scores in by_version.items():
            tally = tallies.setdefault(version, NumericTally(_SCORE))
            tally.add(pl.Series(_SCORE, scores, dtype=pl.Float64))
    return tallies


def _role(stage: str | None, is_champion: bool) -> str:
    if is_champion:
        return "champion"
    return stage if stage in ("canary", "shadow") else "other"
