"""Decisions kept as columns from the decision path to the store: the batch paths
(``doorstep score FILE --record``, ``doorstep decisions import``) hand the store one
:class:`DecisionRows` per chunk instead of one :class:`~doorstep.types.Decision` per row.

The store writes them exactly as it writes the same decisions one object at a time — the same
columns, the same JSON text, the same audit digest (:func:`prepare_rows` builds the digest's
lines with the bytes :func:`~doorstep.store.canonical.canonical_json` gives the fields that
:func:`~doorstep.store.audit.decision_fields` lists, and ``doorstep audit verify`` recomputes
them the canonical way) — with the per-row work done column by column: JSON encoded in one
pass, the rows zipped together in C, the digest fed once per batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from datetime import datetime
from itertools import repeat
from json.encoder import encode_basestring
from typing import Any

import orjson

from doorstep.store.audit import REVIEWED, RowDigest
from doorstep.store.bulk import DbTimes
from doorstep.store.canonical import canonical_json, dump_json, iso
from doorstep.types import Decision, DecisionStatus, Reason

__all__ = ["DecisionRows", "prepare_rows"]


@dataclass(frozen=True)
class DecisionRows:
    """Fresh decisions of one app as columns (row ``i`` is the ``i``-th of every list). What a
    :class:`~doorstep.types.Decision` holds, less ``final_action`` (``None`` until a review);
    ``lineage`` holds each row's lineage as the JSON text stored (``None`` for the rows, or the
    whole column, without one)."""

    app: str
    ids: list[str]
    entity_ids: list[str]
    model_versions: list[str]
    model_hashes: list[str]
    inputs: list[dict[str, Any]]
    scores: list[float]
    predicted_classes: list[str | None]
    actions: list[str]
    rules: list[str | None]
    reviews: list[bool]
    controls: list[bool]
    statuses: list[str]
    reasons: list[list[Reason] | None]
    reasons_texts: list[str | None]
    created_at: list[datetime]
    lineage: list[str | None] | None = None

    @classmethod
    def of(cls, app: str, decisions: list[Decision]) -> DecisionRows:
        """``decisions`` (fresh ones: no final action) as columns."""
        return cls(
            app=app,
            ids=[d.id for d in decisions],
            entity_ids=[d.entity_id for d in decisions],
            model_versions=[d.model_version for d in decisions],
            model_hashes=[d.model_hash for d in decisions],
            inputs=[d.inputs for d in decisions],
            scores=[d.score for d in decisions],
            predicted_classes=[d.predicted_class for d in decisions],
            actions=[d.action for d in decisions],
            rules=[d.rule for d in decisions],
            reviews=[d.review for d in decisions],
            controls=[d.control for d in decisions],
            statuses=[str(d.status) for d in decisions],
            reasons=[d.reasons for d in decisions],
            reasons_texts=[d.reasons_text for d in decisions],
            created_at=[d.created_at for d in decisions],
            lineage=[None if d.lineage is None else dump_json(d.lineage) for d in decisions],
        )

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def has_lineage(self) -> bool:
        return self.lineage is not None and any(text is not None for text in self.lineage)

    def decision(self, i: int) -> Decision:
        """Row ``i`` as a :class:`Decision` (for what reads decisions one by one: deliveries)."""
        text = None if self.lineage is None else self.lineage[i]
        return Decision(
            id=self.ids[i],
            app=self.app,
            entity_id=self.entity_ids[i],
            model_version=self.model_versions[i],
            model_hash=self.model_hashes[i],
            inputs=self.inputs[i],
            score=self.scores[i],
            action=self.actions[i],
            rule=self.rules[i],
            review=self.reviews[i],
            control=self.controls[i],
            status=DecisionStatus(self.statuses[i]),
            reasons=self.reasons[i],
            reasons_text=self.reasons_texts[i],
            created_at=self.created_at[i],
            predicted_class=self.predicted_classes[i],
            lineage=None if text is None else orjson.loads(text),
        )

    def decisions(self) -> list[Decision]:
        return [self.decision(i) for i in range(len(self.ids))]

    def __iter__(self) -> Iterator[Decision]:
        return (self.decision(i) for i in range(len(self.ids)))

    def take(self, positions: list[int]) -> DecisionRows:
        """The rows at ``positions``, in that order."""
        taken: dict[str, Any] = {
            name: [column[i] for i in positions] for name, column in self._columns()
        }
        return replace(self, **taken)

    def without(self, ids: set[str]) -> DecisionRows:
        """These rows less those whose id is in ``ids``."""
        return self.take([i for i, made in enumerate(self.ids) if made not in ids])

    def _columns(self) -> Iterator[tuple[str, list[Any]]]:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, list):
                yield spec.name, value


_NULL = "null"
_BOOLS = {True: "true", False: "false"}


def _text(value: Any) -> str:
    """One field as :func:`canonical_json` writes it (a string, ``null``, anything else)."""
    if value is None:
        return _NULL
    if type(value) is str:
        return encode_basestring(value)
    return canonical_json(value)


def _each(column: list[Any]) -> list[str]:
    """Every value of ``column`` as :func:`_text` writes it, in one pass in C: strings
    escaped by the encoder canonical JSON uses (a value not a string: one at a time)."""
    try:
        return list(map(encode_basestring, column))
    except TypeError:
        return list(map(_text, column))


def _few(column: list[Any], encode: Callable[[Any], str] = _text) -> list[str]:
    """:func:`_each` of a column of few distinct values: each encoded once."""
    table = {value: encode(value) for value in set(column)}
    return list(map(table.__getitem__, column))


def _line_format(app: str, lineage: bool) -> str:
    """The digest line of one row as a format string of its encoded fields (the app fixed)."""
    fixed = encode_basestring(app).replace("{", "{{").replace("}", "}}")
    fields = ["{}", fixed, *["{}"] * 13]
    return "[" + ",".join(fields) + "]\n{}\n{}" + ("\n{}" if lineage else "")


def prepare_rows(
    rows: DecisionRows, times: DbTimes, *, lineage: bool
) -> tuple[list[str], list[list[Any]], RowDigest]:
    """The ids (in id order), the columns to insert in that order (as the decisions table
    lists them from ``id`` to ``created_at``, then ``lineage`` when ``lineage``) and the digest
    of the rows: what the store writes for the same decisions given one object at a time
    (``final_action`` null; a row without lineage digested without it)."""
    ids = rows.ids
    order = sorted(range(len(ids)), key=ids.__getitem__)
    if order != list(range(len(ids))):
        rows = rows.take(order)
        ids = rows.ids
    size = len(ids)
    inputs_json = list(map(dump_json, rows.inputs))
    reasons_json: list[str | None]
    if any(r is not None for r in rows.reasons):
        reasons_json = [None if r is None else dump_json(r) for r in rows.reasons]
    else:
        reasons_json = [None] * size
    scores = list(map(float, rows.scores))
    if not all(map(math.isfinite, scores)):
        bad = next(s for s in scores if not math.isfinite(s))
        raise ValueError(f"Out of range float values are not JSON compliant: {bad!r}")
    reviews = list(map(bool, rows.reviews))
    controls = list(map(bool, rows.controls))
    texts = rows.lineage if rows.lineage is not None else [None] * size
    encoded = (
        list(map(encode_basestring, ids)),
        _each(rows.entity_ids),
        _few(rows.model_versions),
        _few(rows.model_hashes),
        list(map(repr, scores)),
        _few(rows.predicted_classes),
        _few(rows.actions),
        _few(rows.rules),
        list(map(_BOOLS.__getitem__, reviews)),
        list(map(_BOOLS.__getitem__, controls)),
        _few(rows.statuses, lambda s: encode_basestring("pending_review" if s in REVIEWED else s)),
        [_NULL] * size,  # fresh decisions carry no final action
        _few(rows.reasons_texts),
        _few(rows.created_at, lambda moment: encode_basestring(iso(moment))),
        inputs_json,
        ["" if r is None else r for r in reasons_json],
    )
    if all(text is not None for text in texts):
        lines = list(map(_line_format(rows.app, True).format, *encoded, texts))
    else:
        lines = list(map(_line_format(rows.app, False).format, *encoded))
        for i, text in enumerate(texts):
            if text is not None:
                lines[i] += "\n" + text
    digest = RowDigest()
    digest.add_lines(ids, lines)
    columns: list[list[Any]] = [
        ids,
        list(repeat(rows.app, size)),
        rows.entity_ids,
        rows.model_versions,
        rows.model_hashes,
        inputs_json,
        scores,
        rows.predicted_classes,
        rows.actions,
        rows.rules,
        reviews,
        controls,
        rows.statuses,
        [None] * size,
        reasons_json,
        rows.reasons_texts,
        list(map(times, rows.created_at)),
    ]
    if lineage:
        columns.append(texts)
    return ids, columns, digest
