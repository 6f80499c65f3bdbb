"""Champion against challenger on live outcomes.

The challenger is a version that either decided a share of the entities itself (a **canary**:
its own decisions, recorded under its version) or scored every decision beside the champion (a
**shadow**: rows of ``shadow_decisions``). Both are joined to the decisions' latest outcomes:

- quality per window and over the range, with the monitor's measures and intervals;
- the difference of the headline metric (AUC, accuracy, MAE), challenger minus champion: on a
  shadow **paired** (both scored the same decisions: paired DeLong for AUC), on a canary
  **unpaired** (independent DeLong variances summed);
- ROI against the control group per version that acted (champion, canary); a shadow acted on
  nothing, so its actions are valued at the champion's measured uplift (expected value);
- the override rate per version that was reviewed; and a verdict in a sentence.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np
import polars as pl

from doorstep.core.outcomes import OutcomeSemantics, outcome_semantics
from doorstep.core.spec.models import Spec
from doorstep.core.stats.roi import RoiAccumulator
from doorstep.errors import InputError, NotFoundError
from doorstep.services.monitor.report import DEFAULT_PERIODS, WINDOW_SECONDS, window_start
from doorstep.services.rollout.compare_report import (
    Comparison,
    Mode,
    VersionSide,
    VersionWindow,
)
from doorstep.services.rollout.measures import (
    ExpectedValue,
    LabelledScores,
    compare_quality,
    economics_of,
    expected_value,
    outcome_frame,
    quality_of,
    taken_action,
)
from doorstep.services.rollout.verdict import verdict
from doorstep.store.challengers import SHADOW_LABELLED_COLUMNS, VERSION_LABELLED_COLUMNS
from doorstep.store.protocols import ChallengerStore
from doorstep.store.shadow_records import VersionCounts

__all__ = ["CHUNK_ROWS", "compare_modes", "compare_versions"]

CHUNK_ROWS = 20_000


class CompareStore(ChallengerStore, Protocol):
    """What a comparison reads."""


@dataclass
class _Version:
    """One version's accumulators: quality per window and in all, ROI, treated actions."""

    roi: RoiAccumulator | None
    total: LabelledScores = field(default_factory=LabelledScores.empty)
    windows: dict[int, LabelledScores] = field(default_factory=dict)
    treated: Counter[str] = field(default_factory=Counter)

    def add(self, frame: pl.DataFrame, score: str, klass: str, action: str) -> None:
        """Rows with ``valid``, ``outcome``, ``label_text``, ``window``, ``predicted_<side>``."""
        scores = frame[score].to_numpy().astype(np.float64)
        predicted = frame[f"predicted_{score}"].to_numpy().astype(bool)
        classes = np.array(frame[klass].cast(pl.String).fill_null("").to_list(), dtype=str)
        outcomes = frame["outcome"].to_numpy().astype(np.float64)
        labels = np.array(frame["label_text"].to_list(), dtype=str)
        self.total.add(scores, predicted, classes, outcomes, labels)
        windows = frame["window"].to_numpy()
        for index in np.unique(windows):
            mask = windows == index
            target = self.windows.setdefault(int(index), LabelledScores.empty())
            target.add(scores[mask], predicted[mask], classes[mask], outcomes[mask], labels[mask])


@dataclass(frozen=True)
class _Range:
    window: str
    since: datetime
    until: datetime

    @property
    def step(self) -> timedelta:
        return timedelta(seconds=WINDOW_SECONDS[self.window])

    def bounds(self) -> list[tuple[datetime, datetime]]:
        out, start = [], self.since
        while start < self.until:
            out.append((start, min(start + self.step, self.until)))
            start += self.step
        return out


def _resolve(
    spec: Spec,
    window: str | None,
    since: datetime | None,
    until: datetime | None,
    periods: int | None,
    now: datetime,
) -> _Range:
    chosen = window or spec.monitoring.window
    if chosen not in WINDOW_SECONDS:
        raise InputError(f"The window must be hour, day or week. Got {chosen!r} instead.")
    step = timedelta(seconds=WINDOW_SECONDS[chosen])
    end = until.astimezone(UTC) if until is not None else window_start(now, chosen) + step
    start = (
        window_start(since, chosen)
        if since is not None
        else window_start(end - step * (periods or DEFAULT_PERIODS[chosen]), chosen)
    )
    if start >= end:
        raise InputError(
            f"'since' ({start.isoformat()}) must come before 'until' ({end.isoformat()})."
        )
    return _Range(chosen, start, end)


def compare_versions(
    spec: Spec,
    store: CompareStore,
    *,
    champion: str,
    challenger: str | None = None,
    window: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    periods: int | None = None,
    now: datetime | None = None,
    chunk_rows: int = CHUNK_ROWS,
    mode: Mode | None = None,
) -> Comparison:
    """Champion ``champion`` against ``challenger`` (default: the other version with the most
    decisions or shadow rows in the range) on the outcomes of ``spec``'s app. ``mode``: compare
    the challenger's shadow rows or its own (canary) decisions only; by default its shadow rows
    when it has any in the range (a version tried in shadow, then as a canary, the same day)."""
    span = _resolve(spec, window, since, until, periods, now or datetime.now(UTC))
    app = spec.app.name
    between = {"since": span.since, "until": span.until}
    decided = {c.model_version: c for c in store.version_counts(app, **between)}
    shadowed = {c.model_version: c for c in store.shadow_counts(app, **between)}
    if mode is not None:  # one kind of challenger rows only
        decided = {v: c for v, c in decided.items() if mode == "canary" or v == champion}
        shadowed = shadowed if mode == "shadow" else {}
    mode, chosen = _choose(champion, challenger, decided, shadowed)
    seen = sorted((set(decided) | set(shadowed)) - {champion, chosen or ""})
    try:
        semantics: OutcomeSemantics | None = outcome_semantics(spec)
    except ValueError:
        semantics = None
    base = decided.get(champion, VersionCounts(champion, 0, 0, 0, 0))
    if chosen is None or semantics is None:
        side = _side(spec, span, champion, "champion", base, None)
        text = (
            f"No challenger: no version other than {champion} decided or shadowed decisions "
            f"of {app} from {span.since.isoformat()} to {span.until.isoformat()}."
            if chosen is None
            else "The app's outcomes cannot be read (see monitoring.outcome)."
        )
        return Comparison(app, span.window, span.since, span.until, None, side, None,
                          tuple(seen), None, text)  # fmt: skip
    one, two = _new(spec, semantics), _new(spec, semantics)
    if mode == "shadow":
        rows = store.iter_shadow_labelled(
            app, chosen, since=span.since, until=span.until, chunk_rows=chunk_rows
        )
        for chunk in rows:
            frame = _frame(chunk, SHADOW_LABELLED_COLUMNS, spec, semantics, span)
            one.add(frame, "score", "predicted_class", "action")
            two.add(frame, "shadow_score", "shadow_predicted_class", "shadow_action")
            _roi(one, frame, "action", "control")
            _treated(two, frame, "shadow_action", "shadow_control")
        counts = shadowed[chosen]
    else:
        rows = store.iter_version_labelled(
            app, since=span.since, until=span.until, chunk_rows=chunk_rows
        )
        for chunk in rows:
            frame = _frame(chunk, VERSION_LABELLED_COLUMNS, spec, semantics, span)
            for name, target in ((champion, one), (chosen, two)):
                part = frame.filter(pl.col("model_version") == name)
                target.add(part, "score", "predicted_class", "action")
                _roi(target, part, "action", "control")
        counts = decided[chosen]
    difference = (
        compare_quality(spec, one.total, two.total, paired=mode == "shadow")
        if one.total.count and two.total.count
        else None
    )
    labelled = min(one.total.count, two.total.count)
    uplift = one.roi.result().uplift if one.roi is not None else None
    champion_side = _side(spec, span, champion, "champion", base, one)
    if mode == "shadow" and uplift is not None:
        economics = economics_of(spec)
        champion_side = _with_value(champion_side, expected_value(one.treated, uplift, economics))
        challenger_side = _side(spec, span, chosen, "shadow", counts, two)
        value = expected_value(two.treated, uplift, economics)
        challenger_side = _with_value(challenger_side, value)
    else:
        challenger_side = _side(spec, span, chosen, "canary", counts, two)
    return Comparison(
        app=app,
        window=span.window,
        since=span.since,
        until=span.until,
        mode=mode,
        champion=champion_side,
        challenger=challenger_side,
        others=tuple(seen),
        difference=difference,
        verdict=verdict(
            difference,
            labelled,
            spec.monitoring.min_samples.quality,
            champion=champion,
            challenger=chosen,
        ),
    )


def compare_modes(
    spec: Spec, store: CompareStore, *, champion: str, now: datetime | None = None
) -> list[Comparison]:
    """The champion against its challenger as :func:`compare_versions` sets them by default,
    then, when the range also holds the other kind of challenger rows (a shadow's rows beside
    another version's own decisions, or the reverse), the comparison in that mode too (as
    ``doorstep models compare --mode``): what the models page shows."""
    first = compare_versions(spec, store, champion=champion, now=now)
    if first.mode is None:
        return [first]
    since, until, app = first.since, first.until, spec.app.name
    other: Mode = "canary" if first.mode == "shadow" else "shadow"
    counts = (
        store.version_counts(app, since=since, until=until)
        if other == "canary"
        else store.shadow_counts(app, since=since, until=until)
    )
    if not any(c.model_version != champion for c in counts):
        return [first]
    second = compare_versions(
        spec, store, champion=champion, window=first.window, since=since, until=until,
        now=now, mode=other,
    )  # fmt: skip
    return [first, second]


def _choose(
    champion: str,
    challenger: str | None,
    decided: dict[str, VersionCounts],
    shadowed: dict[str, VersionCounts],
) -> tuple[Mode | None, str | None]:
    if challenger is not None:
        if challenger == champion:
            raise InputError(
                f"The challenger must be another version than the champion ({champion!r})."
            )
        if challenger in shadowed:
            return "shadow", challenger
        if challenger in decided:
            return "canary", challenger
        known = sorted((set(decided) | set(shadowed)) - {champion})
        raise NotFoundError(
            f"Version {challenger!r} decided or shadowed nothing in the range; versions seen: "
            f"{', '.join(known) or 'none besides the champion'}."
        )
    pool = [(c.decisions, "shadow", v) for v, c in shadowed.items() if v != champion]
    pool += [(c.decisions, "canary", v) for v, c in decided.items() if v != champion]
    if not pool:
        return None, None
    _, mode, version = max(pool)
    return ("shadow" if mode == "shadow" else "canary"), version


def _new(spec: Spec, semantics: OutcomeSemantics) -> _Version:
    roi = None
    if semantics.kind == "value" or semantics.positive is not None:
        roi = RoiAccumulator(
            semantics.kind,
            semantics.goal,
            economics_of(spec),
            min_outcomes=spec.monitoring.min_samples.roi,
        )
    return _Version(roi)


def _frame(
    rows: list[Any],
    columns: tuple[str, ...],
    spec: Spec,
    semantics: OutcomeSemantics,
    span: _Range,
) -> pl.DataFrame:
    """A chunk as columns, with which outcomes count, as numbers, and each row's window."""
    frame = pl.DataFrame(rows, schema=list(columns), orient="row", strict=False)
    valid, outcome, text = outcome_frame(
        semantics, frame["label"].cast(pl.String), frame["value"].cast(pl.Float64)
    )
    since_us = int(span.since.timestamp() * 1_000_000)
    step_us = WINDOW_SECONDS[span.window] * 1_000_000
    taken = taken_action()
    frame = frame.with_columns(
        pl.Series("valid", valid),
        pl.Series("outcome", outcome),
        pl.Series("label_text", text),
        ((pl.col("created_us") - since_us) // step_us).alias("window"),
        taken.alias("taken"),
    )
    untreated = spec.monitoring.quality_on == "untreated"
    kept = pl.col("valid") & (pl.col("taken") == "none") if untreated else pl.col("valid")
    frame = frame.filter(kept)
    threshold = spec.monitoring.threshold
    for score, action in (("score", "action"), ("shadow_score", "shadow_action")):
        if score in frame.columns:
            predicted = (
                pl.col(score) >= threshold if threshold is not None else pl.col(action) != "none"
            )
            frame = frame.with_columns(predicted.alias(f"predicted_{score}"))
    return frame


def _roi(target: _Version, frame: pl.DataFrame, action: str, control: str) -> None:
    acting = frame.filter(pl.col(action) != "none")
    _treated(target, frame, action, control)
    if target.roi is not None and acting.height:
        target.roi.add(
            acting[action].to_numpy(),
            acting[control].to_numpy().astype(bool),
            acting["taken"].to_numpy(),
            acting["outcome"].to_numpy(),
        )


def _treated(target: _Version, frame: pl.DataFrame, action: str, control: str) -> None:
    chosen = frame.filter((pl.col(action) != "none") & ~pl.col(control).cast(pl.Boolean))
    target.treated.update(chosen[action].to_list())


def _side(
    spec: Spec,
    span: _Range,
    version: str,
    role: Any,
    counts: VersionCounts,
    found: _Version | None,
) -> VersionSide:
    windows: list[VersionWindow] = []
    if found is not None:
        for index, (start, end) in enumerate(span.bounds()):
            part = found.windows.get(index, LabelledScores.empty())
            windows.append(VersionWindow(start, end, quality_of(spec, part)))
    labelled = found.total.count if found is not None else 0
    return VersionSide(
        version=version,
        role=role,
        decisions=counts.decisions,
        acting=counts.acting,
        reviewed=counts.reviewed,
        overridden=counts.overridden,
        labelled=labelled,
        quality=quality_of(spec, found.total) if found is not None and labelled else None,
        windows=tuple(windows),
        roi=None if found is None or found.roi is None or role == "shadow" else found.roi.result(),
        expected_value=None,
    )


def _with_value(side: VersionSide, value: ExpectedValue) -> VersionSide:
    return replace(side, expected_value=value)
