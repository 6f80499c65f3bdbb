"""The monitor on demand: an app's monitoring report, the same report as an HTML file, or one
alert run, each from the app's spec file, as ``doorstep monitor``, ``doorstep report`` and
``doorstep monitor --alert`` compute them.

The reference profile that drift is measured against is built once per model version and kept
under ``profiles`` (:class:`~doorstep.services.monitor.drift.ProfileCache`). Requests, results
and the store's opener (``open_store``: a callable returning a context manager) are plain
values that pickle, so a run can go to another process: ``doorstep monitor --nice`` runs it in
a child process at a lower priority, which opens the store itself. The store is opened once the
spec has been read and the profile built, so a broken spec leaves no database behind.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from doorstep.errors import InputError
from doorstep.store.home import DEFAULT_HOME
from doorstep.store.protocols import StoreContract  # light: no SQLAlchemy

if TYPE_CHECKING:  # this module stays light: a command imports it before its child starts
    from doorstep.core.spec.loader import SpecDocument
    from doorstep.core.stats.drift import ReferenceProfile
    from doorstep.types import MonitoringReport

__all__ = [
    "DEFAULT_PROFILES",
    "AlertRequest",
    "AlertRun",
    "OpenStore",
    "ReportRequest",
    "Stage",
    "WrittenReport",
    "alert_app",
    "monitor_app",
    "write_report",
]

DEFAULT_PROFILES = DEFAULT_HOME / "profiles"
"""Where reference profiles are kept, relative to the working directory."""

OpenStore = Callable[[], AbstractContextManager[StoreContract]]
"""Opens the store for the length of a ``with`` block."""
Stage = Callable[[str, int, int], None]
"""Told as each stage of a report starts: what it does, the stages done, the stages in all."""


@dataclass(frozen=True)
class ReportRequest:
    """Which app and which windows to report (``None``: the spec's window and periods)."""

    spec: Path
    window: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    periods: int | None = None
    drift: bool = True
    """Compare each window with the spec's reference data (when it names one)."""
    profiles: Path = DEFAULT_PROFILES


@dataclass(frozen=True)
class WrittenReport:
    """The report written by :func:`write_report`, and the file it went to."""

    report: MonitoringReport
    path: Path
    size: int
    """Bytes written."""


@dataclass(frozen=True)
class AlertRequest:
    """Which app to judge, and whether to send the deliveries its alerts are due; with a range
    (``window``, ``since``, ``until`` or ``periods``), a dry replay of that range instead."""

    spec: Path
    drift: bool = True
    deliver: bool = True
    public_url: str | None = None
    actor: str = "monitor"
    profiles: Path = DEFAULT_PROFILES
    window: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    periods: int | None = None

    @property
    def replay(self) -> bool:
        """A range was asked for: judge its windows, record and send nothing
        (:mod:`doorstep.services.monitor.alert_replay`)."""
        return any(v is not None for v in (self.window, self.since, self.until, self.periods))


@dataclass(frozen=True)
class AlertRun:
    """What an alert run judged and did (``result``: ``MonitorResult.as_dict()``, or
    ``AlertReplay.as_dict()`` for a replay, with ``dry_run: true``)."""

    result: dict[str, Any]
    exit_code: int
    """0 when every subject is ok, 3 when the worst is at ``warn``, 4 at ``alert``."""
    attempts: int
    """Deliveries attempted after the run (with ``deliver``)."""
    delivered: int


def monitor_app(
    request: ReportRequest, open_store: OpenStore, *, on_stage: Stage | None = None
) -> MonitoringReport:
    """The monitoring report of the app of ``request.spec``: quality, overrides, ROI and (with
    ``request.drift`` and a reference sample in the spec) drift, per window."""
    return _measure(_read(request.spec), request, open_store, on_stage or _quiet, after=0)


def write_report(
    request: ReportRequest,
    open_store: OpenStore,
    out: Path,
    *,
    on_stage: Stage | None = None,
) -> WrittenReport:
    """The monitoring report as one self-contained HTML file at ``out``."""
    from doorstep.services.monitor.report_html import render_report_html

    if out.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"--out must name an .html file. Got {str(out)!r} instead.")
    stage = on_stage or _quiet
    doc = _read(request.spec)
    report = _measure(doc, request, open_store, stage, after=1)
    stages = _stages(doc, request) + 1
    stage("Rendering the HTML", stages - 1, stages)
    html = render_report_html(report, owner=doc.spec.app.owner)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"Could not write {out}: {exc.strerror or exc}.") from None
    stage("Written", stages, stages)
    return WrittenReport(report, out, len(html.encode()))


def alert_app(request: AlertRequest, open_store: OpenStore) -> AlertRun:
    """Judge the app's latest window against ``monitoring.alerts``, raise and resolve alerts
    (audited) and, with ``request.deliver``, send the deliveries they are due. With a range
    (:attr:`AlertRequest.replay`), replay its windows dry: nothing recorded, nothing sent."""
    from doorstep.services.deliver.connectors import SpecFile, open_app_connectors
    from doorstep.services.deliver.dispatcher import AttemptReport, Dispatcher
    from doorstep.services.monitor.alerts import run_monitor

    doc = _read(request.spec)
    if doc.spec.monitoring.alerts is None:
        raise InputError(
            f"{request.spec} has no monitoring.alerts: say which connectors receive alerts "
            "(see docs/monitoring.md, Alerts)."
        )
    profile = _profile(doc, request.spec, request.profiles) if request.drift else None
    if request.replay:
        return _replay(doc, request, profile, open_store)
    root = request.spec.resolve().parent
    sent: list[AttemptReport] = []
    with open_store() as store:
        result = run_monitor(
            doc.spec,
            store,
            profile=profile,
            actor=request.actor,
            public_url=request.public_url,
            root=root,
        )
        if request.deliver and any(t.messages for t in result.transitions):
            connectors = open_app_connectors(SpecFile(doc, root))
            with Dispatcher(store, [connectors], public_url=request.public_url) as dispatcher:
                sent = dispatcher.drain()
    delivered = sum(1 for attempt in sent if attempt.state == "delivered")
    return AlertRun(result.as_dict(), result.exit_code, len(sent), delivered)


def _replay(
    doc: SpecDocument,
    request: AlertRequest,
    profile: ReferenceProfile | None,
    open_store: OpenStore,
) -> AlertRun:
    from doorstep.services.monitor.alert_replay import replay_alerts

    with open_store() as store:
        replay = replay_alerts(
            doc.spec,
            store,
            window=request.window,
            since=request.since,
            until=request.until,
            periods=request.periods,
            profile=profile,
            public_url=request.public_url,
        )
    return AlertRun(replay.as_dict(), replay.exit_code, 0, 0)


def _read(spec: Path) -> SpecDocument:
    from doorstep.services.apps.loading import read_spec

    return read_spec(spec)


def _stages(doc: SpecDocument, request: ReportRequest) -> int:
    """Stages of measuring: profiling the reference data (when drift is measured), measuring."""
    return 2 if request.drift and doc.spec.reference is not None else 1


def _profile(doc: SpecDocument, spec: Path, profiles: Path) -> ReferenceProfile | None:
    """The reference profile of the app (``None`` when the spec names no reference data)."""
    from doorstep.services.apps.loading import load_app
    from doorstep.services.monitor.drift import ProfileCache

    if doc.spec.reference is None:
        return None
    return ProfileCache(profiles).get(load_app(spec))


def _measure(
    doc: SpecDocument, request: ReportRequest, open_store: OpenStore, stage: Stage, *, after: int
) -> MonitoringReport:
    """The report; ``after``: stages the caller runs after this one (to count them all)."""
    from doorstep.services.monitor.drift import drift_thresholds
    from doorstep.services.monitor.report import monitoring_report

    stages = _stages(doc, request) + after
    profile = None
    if stages - after == 2:
        stage("Profiling the reference data (once per model)", 0, stages)
        profile = _profile(doc, request.spec, request.profiles)
    stage("Measuring quality, overrides, ROI and drift", stages - after - 1, stages)
    from doorstep.services.monitor.versions import with_versions

    thresholds = drift_thresholds(doc.spec)
    with open_store() as store:
        report = monitoring_report(
            doc.spec,
            store,
            window=request.window,
            since=request.since,
            until=request.until,
            periods=request.periods,
            profile=profile,
            thresholds=thresholds,
        )
        return with_versions(doc.spec, store, report, profile=profile, thresholds=thresholds)


def _quiet(_description: str, _done: int, _stages: int) -> None:
    """A stage callback that says nothing."""
