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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np
import orjson
import polars as pl

from doorstep.core.contract import frame_from_records
from doorstep.core.outcomes import OutcomeSemantics, outcome_semantics
from doorstep.core.spec.models import Spec
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
    outcome_frame,
    quality_of,
    taken_action,
)
from doorstep.services.rollout.verdict import verdict
from doorstep.store.protocols import ChallengerStore, DecisionStore, OutcomeStore
from doorstep.store.replay import REPLAY_COLUMNS, no_cycle_collection

__all__ = ["BacktestStore", "CHUNK_ROWS", "SAMPLE_FLIPS", "backtest"]

CHUNK_ROWS = 20_000
SAMPLE_FLIPS = 20
Progress = Callable[[int], None]


class BacktestStore(ChallengerStore, DecisionStore, OutcomeStore, Protocol):
    """What a backtest reads: decisions with their outcomes, and the sample's stored reasons."""


_SCHEMA: dict[str, Any] = {
    "id": pl.String, "entity_id": pl.String, "created_us": pl.Int64,
    "model_version": pl.String, "inputs": pl.String, "score": pl.Float64,
    "predicted_class": pl.String, "action": pl.String, "review": pl.Boolean,
    "control": pl.Boolean, "status": pl.String, "final_action": pl.String,
    "label": pl.String, "value": pl.Float64,
}  # fmt: skip
assert tuple(_SCHEMA) == REPLAY_COLUMNS
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_JSON_DTYPES: dict[str, pl.DataType] = {
    # ints as floats: the contract checks they are whole (a JSON 3.5 decoded as Int64 is 3)
    "int": pl.Float64(), "float": pl.Float64(), "bool": pl.Boolean(),
    "category": pl.String(), "string": pl.String(), "datetime": pl.String(),
}  # fmt: skip


def _page(rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    """A page of replay rows as a frame, built column by column (building it row by row costs
    about ten times as much: each value goes through polars' row inference)."""
    with no_cycle_collection():
        columns = zip(*rows, strict=True)
        return pl.DataFrame(
            [
                pl.Series(name, values, dtype=dtype, strict=False)
                for (name, dtype), values in zip(_SCHEMA.items(), columns, strict=True)
            ]
        )


def _inputs(page: pl.DataFrame, spec: Spec) -> pl.DataFrame:
    """The page's recorded inputs as a frame of the contract's columns: decoded in one go, or
    record by record when a value's JSON type is not the field's (e.g. ``"3"`` for an int)."""
    fields: dict[str, pl.DataType] = {spec.inputs.id: pl.String()}
    fields.update({name: _JSON_DTYPES[f.type] for name, f in spec.inputs.fields.items()})
    try:
        return page["inputs"].str.json_decode(pl.Struct(fields)).struct.unnest()
    except pl.exceptions.PolarsError:
        records = [orjson.loads(text) for text in page["inputs"].to_list()]
        return frame_from_records(records, spec.inputs)


@dataclass
class _Side:
    versions: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    treated: Counter[str] = field(default_factory=Counter)
    review: int = 0
    control: int = 0
    labelled: LabelledScores = field(default_factory=LabelledScores.empty)

    def count(self, actions: pl.Series, review: pl.Series, control: pl.Series) -> None:
        self.actions.update(dict(actions.value_counts().iter_rows()))
        self.review += int(review.cast(pl.Boolean).sum())
        self.control += int(control.cast(pl.Boolean).sum())
        treated = actions.filter((actions != "none") & ~control.cast(pl.Boolean))
        self.treated.update(dict(treated.value_counts().iter_rows()))


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
    on_total: Progress | None = None,
) -> BacktestReport:
    """Replay the decisions of ``champion``'s app made in ``[since, until)`` through
    ``candidate`` (the same app with another model: ``services.apps.loading.with_model``).
    ``on_total`` is told how many decisions the range holds, ``progress`` each page done."""
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
    if on_total is not None:
        on_total(store.feedback_counts(champion.name, since=since, until=until).decisions)
    old, new = _Side(), _Side()
    transitions: Counter[tuple[str, str]] = Counter()
    rejected, replayed, offset = 0, 0, 0
    examples: list[str] = []
    kept: list[_Candidate] = []
    threshold = spec.monitoring.threshold
    for rows in store.iter_replay(champion.name, since=since, until=until, chunk_rows=chunk_rows):
        page = _page(rows)
        decided = decide_batch(candidate, _inputs(page, spec), row_offset=offset, explain=False)
        if decided.rejects.height:
            rejected += decided.rejects["row"].n_unique()
            examples.extend(decided.rejects["message"].head(5 - len(examples)).to_list())
        out = decided.decisions
        chosen = page[out["row"].to_numpy() - 1 - offset]
        offset += page.height
        replayed += chosen.height
        pairs = pl.DataFrame({"old": chosen["action"], "new": out["action"]})
        for a, b, n in pairs.group_by("old", "new").len().iter_rows():
            transitions[(a, b)] += n
        old.versions.update(dict(chosen["model_version"].value_counts().iter_rows()))
        old.count(chosen["action"], chosen["review"], chosen["control"])
        new.count(out["action"], out["review"], out["control"])
        flipped = np.flatnonzero((pairs["old"] != pairs["new"]).to_numpy())
        if flipped.size:
            _keep(kept, sample, chosen[flipped], out[flipped])
        if semantics is not None:
            _labelled(semantics, chosen, out, old, new, roi, threshold, untreated_only)
        if progress is not None:
            progress(page.height)
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


def _keep(kept: list[_Candidate], size: int, chosen: pl.DataFrame, out: pl.DataFrame) -> None:
    """Keep the flips of the chunk whose ids hash lowest, ``size`` in all."""
    if size <= 0:
        return
    for row, (action, score) in zip(
        chosen.iter_rows(named=True), out.select("action", "score").iter_rows(), strict=True
    ):
        item = _Candidate(
            _rank(row["id"]),
            row["id"],
            row["entity_id"],
            _EPOCH + timedelta(microseconds=int(row["created_us"])),
            orjson.loads(row["inputs"]),
            (row["action"], float(row["score"]), row["model_version"]),
            (action, float(score)),
        )
        if len(kept) < size:
            heapq.heappush(kept, item)
        elif item.rank > kept[0].rank:
            heapq.heapreplace(kept, item)


def _labelled(
    semantics: OutcomeSemantics,
    chosen: pl.DataFrame,
    out: pl.DataFrame,
    old: _Side,
    new: _Side,
    roi: RoiAccumulator | None,
    threshold: float | None,
    untreated_only: bool,
) -> None:
    """Feed the chunk's decisions with an outcome to both sides' quality and to the ROI."""
    valid, outcomes, labels = outcome_frame(semantics, chosen["label"], chosen["value"])
    if not valid.any():
        return
    taken = chosen.select(taken_action().alias("taken"))["taken"].to_numpy()
    old_actions = chosen["action"].to_numpy()
    control = chosen["control"].cast(pl.Boolean).to_numpy()
    if roi is not None:
        acting = valid & (old_actions != "none")
        roi.add(old_actions[acting], control[acting], taken[acting], outcomes[acting])
    measured = valid & (taken == "none") if untreated_only else valid
    sides = (
        (old, chosen["score"], chosen["action"], chosen["predicted_class"]),
        (new, out["score"], out["action"], out.get_column("predicted_class", default=None)),
    )
    for side, scores, actions, classes in sides:
        values = scores.cast(pl.Float64).to_numpy()
        acted = (actions != "none").to_numpy()
        predicted = values >= threshold if threshold is not None else acted
        names = (
            np.full(len(values), "", dtype=str)
            if classes is None
            else np.asarray(classes.cast(pl.String).fill_null("").to_list(), dtype=str)
        )
        side.labelled.add(
            values[measured],
            np.asarray(predicted, dtype=bool)[measured],
            names[measured],
            outcomes[measured],
            labels[measured],
        )


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
