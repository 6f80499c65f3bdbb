"""Fairness of an app's stored decisions by its sensitive attributes, in one streamed pass.

An attribute is an input field marked ``sensitive: true`` (grouped by its values) or a band of
``monitoring.fairness.bands`` (a numeric sensitive field cut at its edges). The store streams
the range's decisions with their latest outcome, oldest first (``iter_training_rows``); each
chunk feeds one :class:`~doorstep.core.stats.fairness.FairnessTally` per attribute, so memory
stays flat whatever the history.

What counts: a decision's **action** is the policy's (before any review: what the model and
the policy chose, for everyone, control group included); it is **selected** when its score is
at or above ``monitoring.threshold`` (when set) or its action is not ``none`` — the same
choice live quality makes for precision and recall. Outcome rates need binary outcomes.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from doorstep.core.outcomes import canonical_label, outcome_semantics
from doorstep.core.spec.models import Spec
from doorstep.core.stats.fairness import AttributeFairness, FairnessTally
from doorstep.core.suggest import did_you_mean
from doorstep.errors import InputError
from doorstep.services.monitor.report import DEFAULT_PERIODS, WINDOW_SECONDS, window_start
from doorstep.store.feedback import TRAINING_COLUMNS
from doorstep.store.protocols import OutcomeStore

__all__ = ["MISSING", "Attribute", "FairnessReport", "attributes_of", "fairness_report"]

MISSING = "(missing)"
"""The group of decisions whose attribute was not given."""
CHUNK_ROWS = 20_000
_COLUMN = {name: i for i, name in enumerate(TRAINING_COLUMNS)}


@dataclass(frozen=True)
class Attribute:
    """How one attribute groups decisions: a field's values, or bands of a numeric field."""

    name: str
    field: str
    edges: tuple[float, ...] = ()

    @property
    def bands(self) -> tuple[str, ...]:
        """Band names in increasing order: ``<25``, ``25-35``, ..., ``>=65``."""
        if not self.edges:
            return ()
        shown = [_number(e) for e in self.edges]
        middle = [f"{a}-{b}" for a, b in zip(shown, shown[1:], strict=False)]
        return (f"<{shown[0]}", *middle, f">={shown[-1]}")

    def group(self, value: Any) -> str:
        """The group a value falls in."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return MISSING
        if not self.edges:
            return canonical_label(value) or MISSING
        try:
            number = float(value)
        except (TypeError, ValueError):
            return MISSING
        return self.bands[bisect_right(self.edges, number)]


@dataclass(frozen=True)
class FairnessReport:
    """Fairness of one app's decisions in ``[since, until)``, per attribute."""

    app: str
    since: datetime
    until: datetime
    generated_at: datetime
    decisions: int
    labelled: int
    outcomes: bool
    """Binary outcomes exist for the app: true/false positive rates and calibration."""
    selected: str
    """What ``selected`` means here, in words."""
    min_group: int
    attributes: tuple[AttributeFairness, ...]
    version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "generated_at": self.generated_at.isoformat(),
            "version": self.version,
            "decisions": self.decisions,
            "labelled": self.labelled,
            "outcomes": self.outcomes,
            "selected": self.selected,
            "min_group": self.min_group,
            "attributes": [a.as_dict() for a in self.attributes],
        }


def attributes_of(spec: Spec, by: Sequence[str] = ()) -> list[Attribute]:
    """The attributes ``by`` names (each a sensitive field or a band); none named: every band
    and every sensitive field that has no band."""
    fields = spec.sensitive_fields
    bands = spec.monitoring.fairness.bands
    if not fields:
        raise InputError(
            f"App {spec.app.name!r} marks no input as sensitive: add 'sensitive: true' to the "
            "inputs.fields entries to group by (they may be 'feature: false'); see "
            "docs/fairness.md."
        )
    known = {name: Attribute(name, name) for name in fields}
    known.update(
        {name: Attribute(name, band.field, tuple(band.edges)) for name, band in bands.items()}
    )
    if not by:
        banded = {band.field for band in bands.values()}
        by = [*bands, *(name for name in fields if name not in banded)]
    chosen: list[Attribute] = []
    for name in by:
        found = known.get(name)
        if found is None:
            raise InputError(
                "--by must name a sensitive input or a band of monitoring.fairness.bands. "
                f"Got {name!r} instead{did_you_mean(name, list(known))}; choose from "
                f"{', '.join(known)}."
            )
        if found not in chosen:
            chosen.append(found)
    return chosen


def fairness_report(
    spec: Spec,
    store: OutcomeStore,
    *,
    by: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    version: str | None = None,
    now: datetime | None = None,
    chunk_rows: int = CHUNK_ROWS,
    on_rows: Callable[[int], None] | None = None,
) -> FairnessReport:
    """Fairness of ``spec``'s app by ``by`` (default: every sensitive attribute) over the
    decisions made in ``[since, until)`` (default: the range ``doorstep monitor`` reports),
    only those of model ``version`` when given. ``on_rows`` is told the rows read so far."""
    now = now or datetime.now(UTC)
    attributes = attributes_of(spec, by)
    window = spec.monitoring.window
    end = until.astimezone(UTC) if until is not None else now
    step = timedelta(seconds=WINDOW_SECONDS[window])
    start = (
        since.astimezone(UTC)
        if since is not None
        else window_start(end - step * DEFAULT_PERIODS[window], window)
    )
    if start >= end:
        raise InputError(
            f"'since' ({start.isoformat()}) must come before 'until' ({end.isoformat()})."
        )
    semantics = outcome_semantics(spec)
    outcomes = semantics.binary
    minimum = spec.monitoring.fairness.min_group
    tallies = [
        FairnessTally(
            a.name,
            a.field,
            min_group=minimum,
            actions=[*spec.actions, spec.policy.default],
            order=a.bands,
            outcomes=outcomes,
        )
        for a in attributes
    ]
    threshold = spec.monitoring.threshold
    decisions = labelled = 0
    for rows in store.iter_training_rows(
        spec.app.name, since=start, until=end, chunk_rows=chunk_rows
    ):
        if version is not None:
            rows = [r for r in rows if r[_COLUMN["model_version"]] == version]
        if not rows:
            continue
        inputs = [r[_COLUMN["inputs"]] or {} for r in rows]
        scores = np.array(
            [np.nan if r[_COLUMN["score"]] is None else r[_COLUMN["score"]] for r in rows],
            dtype=np.float64,
        )
        actions = np.array([r[_COLUMN["action"]] or "none" for r in rows], dtype=object)
        selected = scores >= threshold if threshold is not None else actions != "none"
        labels = [r[_COLUMN["outcome_label"]] for r in rows]
        known = np.array([lb in (semantics.positive, semantics.negative) for lb in labels])
        positive = np.array([lb == semantics.positive for lb in labels], dtype=bool)
        for attribute, tally in zip(attributes, tallies, strict=True):
            groups = np.array(
                [attribute.group(i.get(attribute.field)) for i in inputs], dtype=object
            )
            tally.add(groups, actions, selected, known & outcomes, positive, scores)
        decisions += len(rows)
        labelled += int(known.sum()) if outcomes else 0
        if on_rows is not None:
            on_rows(decisions)
    return FairnessReport(
        app=spec.app.name,
        since=start,
        until=end,
        generated_at=now,
        decisions=decisions,
        labelled=labelled,
        outcomes=outcomes,
        selected=(
            f"score >= {threshold} (monitoring.threshold)"
            if threshold is not None
            else "an action other than none"
        ),
        min_group=minimum,
        attributes=tuple(t.result() for t in tallies),
        version=version,
    )


def _number(edge: float) -> str:
    return str(int(edge)) if float(edge).is_integer() else repr(edge)
