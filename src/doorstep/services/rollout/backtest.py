"""Backtest: replay stored decisions through a candidate model before it goes live.

The recorded inputs of the range's decisions are decided again by the candidate through the one
decision path (:func:`~doorstep.services.decide.batch.decide_batch`, without explanations),
a chunk at a time, beside what the champion recorded: which actions flip (a transition matrix),
how the review load and the control group change, and, on decisions with an outcome, the
quality of both models (the monitor's measures, and the difference with its paired interval)
and the expected value of both policies under the uplift measured against the control group.
A sample of the flipping decisions is explained by both models at the end.

Memory: one chunk of decisions, plus a few numbers per decision with an outcome and the sample.
"""

from __future__ import annotations

import hashlib
import heapq
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import polars as pl

from doorstep.core.contract import frame_from_records
from doorstep.core.outcomes import OutcomeSemantics, outcome_semantics
from doorstep.core.stats.roi import RoiAccumulator
from doorstep.errors import InputError
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.decide.batch import decide_batch
from doorstep.services.rollout.backtest_report import BacktestReport, BacktestSide, Flip
from doorstep.services.rollout.measures import (
    LabelledScores,
    compare_quality,
    economics_of,
    expected_value,
    outcome_columns,
    quality_of,
)
from doorstep.services.rollout.verdict import verdict
from doorstep.store.feedback import TRAINING_COLUMNS
from doorstep.store.protocols import DecisionStore, OutcomeStore

__all__ = ["BacktestStore", "CHUNK_ROWS", "SAMPLE_FLIPS", "backtest"]

CHUNK_ROWS = 20_000
SAMPLE_FLIPS = 20
Progress = Callable[[int], None]


class BacktestStore(OutcomeStore, DecisionStore, Protocol):
    """What a backtest reads: decisions with their outcomes, and the sample's stored reasons."""


_AT = {name: i for i, name in enumerate(TRAINING_COLUMNS)}


@dataclass
class _Side:
    versions: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    treated: Counter[str] = field(default_factory=Counter)
    review: int = 0
    control: int = 0
    labelled: LabelledScores = field(default_factory=LabelledScores.empty)

    def count(self, actions: list[str], review: list[bool], control: list[bool]) -> None:
        self.actions.update(actions)
        self.review += sum(review)
        self.control += sum(control)
        self.treated.update(
            a for a, c in zip(actions, control, strict=True) if a != "none" and not c
        )


@dataclass(order=True)
class _Candidate:
    """A flipping decision kept for the sample (the smallest hashes of their ids: a stable,
    uniform sample whatever the chunking)."""

    rank: int
    decision_id: str = field(compare=False)
    entity_id: str = field(compare=False)
    created_at: datetime = field(compare=False)
    inputs: dict[str, Any] = field(compare=False)
    champion: tuple[str, float, str] = field(compare=False)
    candidate: tuple[str, float] = field(compare=False)


def _rank(decision_id: str) -> int:
    return -int.from_bytes(hashlib.blake2b(decision_id.encode(), digest_size=8).digest(), "big")


def backtest(
    champion: LoadedApp,
    candidate: LoadedApp,
    store: BacktestStore,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    chunk_rows: int = CHUNK_ROWS,
    sample: int = SAMPLE_FLIPS,
    progress: Progress | None = None,
) -> BacktestReport:
    """Replay the decisions of ``champion``'s app made in ``[since, until)`` through
    ``candidate`` (the same app with another model: ``services.apps.loading.with_model``)."""
    if candidate.name != champion.name:
        raise InputError(
            f"The candidate must be a model of app {champion.name!r}; got one of "
            f"{candidate.name!r}. Load it with with_model(app, path, version=...)."
        )
    spec = champion.spec
    try:
        semantics: OutcomeSemantics | None = outcome_semantics(spec)
    except ValueError:
        semantics = None
    untreated_only = spec.monitoring.quality_on == "untreated"
    roi = (
        RoiAccumulator(semantics.kind, semantics.goal, economics_of(spec))
        if semantics is not None and (semantics.kind == "value" or semantics.positive is not None)
        else None
    )
    old, new = _Side(), _Side()
    transitions: Counter[tuple[str, str]] = Counter()
    rejected, replayed, offset = 0, 0, 0
    examples: list[str] = []
    kept: list[_Candidate] = []
    threshold = spec.monitoring.threshold
    for rows in store.iter_training_rows(
        champion.name, since=since, until=until, chunk_rows=chunk_rows
    ):
        records = [row[_AT["inputs"]] for row in rows]
        decided = decide_batch(
            candidate, frame_from_records(records, spec.inputs), row_offset=offset, explain=False
        )
        offset += len(rows)
        if decided.rejects.height:
            bad = decided.rejects["row"].unique()
            rejected += bad.len()
            examples.extend(decided.rejects["message"].head(5 - len(examples)).to_list())
        out = decided.decisions
        positions = (out["row"].to_numpy() - 1 - (offset - len(rows))).tolist()
        chosen = [rows[i] for i in positions]
        replayed += len(chosen)
        old_actions = [row[_AT["action"]] for row in chosen]
        new_actions = out["action"].to_list()
        old.versions.update(row[_AT["model_version"]] for row in chosen)
        old.count(
            old_actions,
            [bool(row[_AT["review"]]) for row in chosen],
            [bool(row[_AT["control"]]) for row in chosen],
        )
        new.count(new_actions, out["review"].to_list(), out["control"].to_list())
        transitions.update(zip(old_actions, new_actions, strict=True))
        new_scores = out["score"].to_numpy()
        for i, (before, after) in enumerate(zip(old_actions, new_actions, strict=True)):
            if before != after:
                _keep(kept, sample, chosen[i], after, float(new_scores[i]))
        if semantics is not None:
            _labelled(semantics, chosen, out, old, new, roi, threshold, untreated_only)
        if progress is not None:
            progress(len(rows))
    new.versions[candidate.model_version] = replayed
    uplift = roi.result().uplift if roi is not None else None
    economics = economics_of(spec)
    labelled = old.labelled.count
    difference = (
        compare_quality(spec, old.labelled, new.labelled, paired=True) if labelled else None
    )
    champion_name = next(iter(old.versions)) if len(old.versions) == 1 else "the champion"
    return BacktestReport(
        app=champion.name,
        candidate_version=candidate.model_version,
        since=since,
        until=until,
        decisions=replayed,
        not_replayed=rejected,
        not_replayed_examples=tuple(examples),
        flips=sum(n for (a, b), n in transitions.items() if a != b),
        transitions=dict(transitions),
        champion=_side(spec, old, uplift, economics, labelled),
        candidate=_side(spec, new, uplift, economics, labelled),
        labelled=labelled,
        difference=difference,
        verdict=verdict(
            difference,
            labelled,
            spec.monitoring.min_samples.quality,
            champion=champion_name,
            challenger=candidate.model_version,
        ),
        sample=_explain(champion, candidate, store, sorted(kept, reverse=True)),
    )


def _keep(kept: list[_Candidate], size: int, row: Sequence[Any], action: str, score: float) -> None:
    if size <= 0:
        return
    item = _Candidate(
        _rank(row[_AT["decision_id"]]),
        row[_AT["decision_id"]],
        row[_AT["entity_id"]],
        row[_AT["created_at"]],
        row[_AT["inputs"]],
        (row[_AT["action"]], float(row[_AT["score"]]), row[_AT["model_version"]]),
        (action, score),
    )
    if len(kept) < size:
        heapq.heappush(kept, item)
    elif item.rank > kept[0].rank:
        heapq.heapreplace(kept, item)


def _labelled(
    semantics: OutcomeSemantics,
    chosen: list[Sequence[Any]],
    out: pl.DataFrame,
    old: _Side,
    new: _Side,
    roi: RoiAccumulator | None,
    threshold: float | None,
    untreated_only: bool,
) -> None:
    """Feed the chunk's decisions with an outcome to both sides' quality and to the ROI."""
    valid, outcomes, labels = outcome_columns(
        semantics,
        [row[_AT["outcome_label"]] for row in chosen],
        [row[_AT["outcome_value"]] for row in chosen],
    )
    if not valid.any():
        return
    taken = np.array([_taken(row) for row in chosen], dtype=object)
    old_actions = np.array([row[_AT["action"]] for row in chosen], dtype=object)
    control = np.array([bool(row[_AT["control"]]) for row in chosen], dtype=bool)
    if roi is not None:
        acting = valid & (old_actions != "none")
        roi.add(old_actions[acting], control[acting], taken[acting], outcomes[acting])
    measured = valid & (taken == "none") if untreated_only else valid
    old_scores = np.array([float(row[_AT["score"]]) for row in chosen], dtype=np.float64)
    old_classes = np.array([str(row[_AT["predicted_class"]]) for row in chosen], dtype=str)
    new_scores = out["score"].to_numpy().astype(np.float64)
    new_actions = np.array(out["action"].to_list(), dtype=object)
    new_classes = (
        np.array(out["predicted_class"].cast(pl.String).to_list(), dtype=str)
        if "predicted_class" in out.columns
        else np.array(["None"] * out.height, dtype=str)
    )
    for side, scores, actions, classes in (
        (old, old_scores, old_actions, old_classes),
        (new, new_scores, new_actions, new_classes),
    ):
        predicted = scores >= threshold if threshold is not None else actions != "none"
        side.labelled.add(
            scores[measured],
            np.asarray(predicted, dtype=bool)[measured],
            classes[measured],
            outcomes[measured],
            labels[measured],
        )


def _taken(row: Sequence[Any]) -> str:
    """The action finally taken, as the monitor counts it."""
    status = row[_AT["status"]]
    if status in ("approved", "overridden"):
        return str(row[_AT["final_action"]] or "none")
    if status == "decided":
        return str(row[_AT["action"]])
    return "none"


def _side(spec: Any, side: _Side, uplift: Any, economics: Any, labelled: int) -> BacktestSide:
    return BacktestSide(
        versions=dict(side.versions),
        actions=dict(sorted(side.actions.items())),
        acting=sum(n for a, n in side.actions.items() if a != "none"),
        review=side.review,
        control=side.control,
        quality=quality_of(spec, side.labelled) if labelled else None,
        expected_value=None if uplift is None else expected_value(side.treated, uplift, economics),
    )


def _explain(
    champion: LoadedApp,
    candidate: LoadedApp,
    store: BacktestStore,
    kept: list[_Candidate],
) -> tuple[Flip, ...]:
    """The sample of flipping decisions with both models' top reasons: the champion's as
    recorded (or explained again when the decision was recorded unexplained by the model
    ``champion`` serves), the candidate's explained now."""
    if not kept:
        return ()
    spec = champion.spec
    records = [item.inputs for item in kept]
    new_reasons = _sentences(
        decide_batch(candidate, frame_from_records(records, spec.inputs), explain=True).decisions
    )
    recorded = {item.decision_id: store.get_decision(item.decision_id) for item in kept}
    missing = [
        i
        for i, item in enumerate(kept)
        if (stored := recorded[item.decision_id]) is None or not stored.reasons
    ]
    again: dict[int, tuple[str, ...]] = {}
    same_model = [i for i in missing if kept[i].champion[2] == champion.model_version]
    if same_model:
        frame = frame_from_records([records[i] for i in same_model], spec.inputs)
        sentences = _sentences(decide_batch(champion, frame, explain=True).decisions)
        again = dict(zip(same_model, sentences, strict=True))
    flips = []
    for i, item in enumerate(kept):
        stored = recorded[item.decision_id]
        old = (
            tuple(str(r["sentence"]) for r in stored.reasons)
            if stored is not None and stored.reasons
            else again.get(i, ())
        )
        flips.append(
            Flip(
                decision_id=item.decision_id,
                entity_id=item.entity_id,
                created_at=item.created_at,
                champion_action=item.champion[0],
                candidate_action=item.candidate[0],
                champion_score=item.champion[1],
                candidate_score=item.candidate[1],
                champion_reasons=old,
                candidate_reasons=new_reasons[i] if i < len(new_reasons) else (),
            )
        )
    return tuple(flips)


def _sentences(decisions: pl.DataFrame) -> list[tuple[str, ...]]:
    return [
        tuple(str(r["sentence"]) for r in reasons) if reasons else ()
        for reasons in decisions["reasons"].to_list()
    ]
