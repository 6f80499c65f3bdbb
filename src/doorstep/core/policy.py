"""The policy: ordered SQL rules that turn scores into actions, a review flag and a control group.

:func:`compile_policy` checks every rule once, at load time (syntax, columns, types, categories,
action names), and compiles each to one polars expression (see :mod:`doorstep.core.expressions`).
:meth:`CompiledPolicy.evaluate` decides a whole batch in one polars query: the first rule that
matches wins, the default applies when none does.

Control group: a stable fraction of entities is decided but never acted on, so the value of
acting can be measured. Membership is ``control_value(app, entity_id) < control_group``, where
:func:`control_value` hashes the app name and entity id with a hash fixed by this module (not
Python's or polars' ``hash``), so it is the same in every process, platform and version.
Control membership only applies to decisions that would act: rows whose action is ``none``
always get ``control=False``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt
import polars as pl

from doorstep.core.expressions import RowFallback, RowTest, compile_expression, kind_of
from doorstep.core.spec.models import PolicySpec
from doorstep.core.suggest import did_you_mean
from doorstep.errors import PolicyError

__all__ = [
    "NO_ACTION",
    "ROW_TEST_ROWS",
    "CompiledPolicy",
    "CompiledRule",
    "PolicyResult",
    "compile_policy",
    "control_value",
    "control_values",
    "policy_problems",
]

NO_ACTION = "none"
"""The action that does nothing; always valid."""

ROW_TEST_ROWS = 64
"""Batches up to this many rows (online micro-batches) are decided by the rules' row tests
when every rule has one: a polars query's fixed cost is most of the work for a few rows."""

_MASK64 = (1 << 64) - 1
_FNV_OFFSET, _FNV_PRIME = 0xCBF29CE484222325, 0x100000001B3
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1, _MIX2 = 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53


@dataclass(frozen=True)
class CompiledRule:
    """One rule, compiled."""

    index: int
    """0-based position in ``policy.rules``."""
    name: str
    """The rule's ``name``, or ``rule N`` (1-based) when it has none."""
    when: str
    action: str
    review: bool
    condition: pl.Expr
    """Boolean polars expression; a missing value makes it false, never null."""
    columns: frozenset[str]
    """Columns the rule reads."""
    test: RowTest | None = None
    """The condition on one row in plain Python (see :mod:`doorstep.core.expressions`)."""


@dataclass(frozen=True)
class PolicyResult:
    """The decisions for one batch: Series as long as the batch, in its row order."""

    action: pl.Series
    """String: the action of the first matching rule, or the default."""
    review: pl.Series
    """Boolean: the matching rule asks a person to review first (false for the default)."""
    control: pl.Series
    """Boolean: the entity is in the control group and the action is withheld."""
    slot: npt.NDArray[np.int64]
    """The matching rule's index per row, or ``len(rules)`` where the default applied (what
    per-rule tables are indexed by)."""
    acted: npt.NDArray[np.bool_]
    """The action is not ``none`` (control rows included)."""
    rules: int
    """How many rules the policy has (the default's slot)."""

    @property
    def rule(self) -> pl.Series:
        """Int32: 0-based index of the matching rule; null when the default applied."""
        values = self.slot.astype(np.int32)
        return pl.Series("rule", values).set(pl.Series(values == self.rules), None)


@dataclass(frozen=True)
class CompiledPolicy:
    """A policy ready to decide batches."""

    rules: tuple[CompiledRule, ...]
    default: str
    control_group: float

    @cached_property
    def columns(self) -> frozenset[str]:
        """Every column any rule reads (the batch handed to :meth:`evaluate` needs them)."""
        return frozenset().union(*(rule.columns for rule in self.rules))

    @cached_property
    def _matching(self) -> pl.Expr:
        """The slot of the first rule that holds, ``len(rules)`` for the default: one
        expression, built once."""
        matched = [pl.when(r.condition).then(pl.lit(r.index, pl.Int32)) for r in self.rules]
        return pl.coalesce([*matched, pl.lit(len(self.rules), dtype=pl.Int32)]).alias("__slot")

    @cached_property
    def _slots(self) -> tuple[pl.Series, pl.Series, npt.NDArray[np.bool_]]:
        """Action, review and acting per slot: the rules in order, then the default."""
        actions = [r.action for r in self.rules] + [self.default]
        reviews = [r.review for r in self.rules] + [False]
        return (
            pl.Series("action", actions, dtype=pl.String),
            pl.Series("review", reviews, dtype=pl.Boolean),
            np.array([a != NO_ACTION for a in actions], dtype=np.bool_),
        )

    def evaluate(self, frame: pl.DataFrame, *, entity_ids: pl.Series, app: str) -> PolicyResult:
        """Decide every row of ``frame`` (validated inputs plus ``score`` columns).

        ``entity_ids`` (as long as ``frame``) and ``app`` choose the control group.
        """
        absent = sorted(self.columns - set(frame.columns))
        if absent:
            raise PolicyError(
                f"the batch has no column {', '.join(repr(c) for c in absent)} that the policy "
                f"reads; columns found: {', '.join(frame.columns)}"
            )
        if entity_ids.len() != frame.height:
            raise ValueError(f"entity_ids has {entity_ids.len()} values for {frame.height} rows")
        slot = None
        if frame.height <= ROW_TEST_ROWS and self._tests is not None:
            slot = self._slots_by_rows(frame, self._tests)
        if slot is None:
            slot = self._slots_by_query(frame)
        # Per-slot tables are indexed with numpy (Series[array] is a plain take, cheaper than
        # an expression for the few rows of an online batch).
        actions, reviews, acting = self._slots
        acted = acting[slot]
        return PolicyResult(
            action=actions[slot],
            review=reviews[slot],
            control=self._control(acted, entity_ids, app),
            slot=slot,
            acted=acted,
            rules=len(self.rules),
        )

    @cached_property
    def _tests(self) -> tuple[RowTest, ...] | None:
        """Every rule's row test, or ``None`` when one rule has none."""
        tests = tuple(rule.test for rule in self.rules)
        return None if any(test is None for test in tests) else tests  # type: ignore[return-value]

    def _slots_by_query(self, frame: pl.DataFrame) -> npt.NDArray[np.int64]:
        """The slot of every row, by one polars query."""
        # with_columns, not select: a constant rule (e.g. TRUE) still fills every row.
        matched = frame.with_columns(self._matching)
        return matched.get_column("__slot").to_numpy().astype(np.int64, copy=False)

    def _slots_by_rows(
        self, frame: pl.DataFrame, tests: tuple[RowTest, ...]
    ) -> npt.NDArray[np.int64] | None:
        """The slot of every row, by the rules' row tests (the query's result: a differential
        test holds them equal); ``None`` when a value needs the query (see ``RowFallback``)."""
        names = sorted(self.columns)
        columns = [frame.get_column(name).to_list() for name in names]
        default = len(tests)
        slots = np.full(frame.height, default, dtype=np.int64)
        try:
            rows = zip(*columns, strict=True) if names else [()] * frame.height
            for index, values in enumerate(rows):
                row = dict(zip(names, values, strict=True))
                for slot, test in enumerate(tests):
                    if test(row):
                        slots[index] = slot
                        break
        except RowFallback:
            return None
        return slots

    def _control(self, acted: npt.NDArray[np.bool_], entity_ids: pl.Series, app: str) -> pl.Series:
        control = np.zeros(len(acted), dtype=np.bool_)
        if self.control_group > 0 and acted.any():
            ids = entity_ids[np.flatnonzero(acted)]
            control[acted] = control_values(app, ids) < self.control_group
        return pl.Series("control", control, dtype=pl.Boolean)


def compile_policy(
    policy: PolicySpec,
    columns: Mapping[str, str],
    *,
    categories: Mapping[str, Sequence[str]] | None = None,
    actions: Collection[str] | None = None,
) -> CompiledPolicy:
    """Check and compile ``policy``.

    ``columns`` maps every name a rule may use to its type: a field type (``int``, ``float``,
    ``bool``, ``category``, ``string``, ``datetime``) or ``score`` (input fields, ``score``,
    and for multiclass apps ``score_<class>`` and ``predicted_class``). ``categories`` gives
    the allowed values of category columns; ``actions`` the declared action names (``none`` is
    always valid). Raises :class:`~doorstep.errors.PolicyError` with the 0-based ``rule`` index
    (``None`` for the default) and the character ``position`` in the rule's ``when``.
    """
    for name, column_type in columns.items():
        try:
            kind_of(column_type)
        except ValueError as error:
            raise ValueError(f"column {name!r}: {error}") from None
    known = None if actions is None else {NO_ACTION, *actions}
    compiled = []
    for index, spec in enumerate(policy.rules):
        expression = compile_expression(spec.when, columns, categories=categories or {}, rule=index)
        _check_action(spec.action, known, index)
        compiled.append(
            CompiledRule(
                index=index,
                name=spec.name or f"rule {index + 1}",
                when=spec.when,
                action=spec.action,
                review=spec.review,
                condition=expression.expr,
                columns=expression.columns,
                test=expression.test,
            )
        )
    _check_action(policy.default, known, None)
    return CompiledPolicy(tuple(compiled), policy.default, policy.control_group)


def policy_problems(
    policy: PolicySpec,
    columns: Mapping[str, str],
    *,
    categories: Mapping[str, Sequence[str]] | None = None,
    actions: Collection[str] | None = None,
) -> list[PolicyError]:
    """Every problem :func:`compile_policy` would raise, not only the first: at most one per
    rule's ``when``, one per rule's ``action``, and the default's, in the policy's order."""
    known = None if actions is None else {NO_ACTION, *actions}
    found: list[PolicyError] = []
    for index, spec in enumerate(policy.rules):
        try:
            compile_expression(spec.when, columns, categories=categories or {}, rule=index)
        except PolicyError as error:
            found.append(error)
        try:
            _check_action(spec.action, known, index)
        except PolicyError as error:
            found.append(error)
    try:
        _check_action(policy.default, known, None)
    except PolicyError as error:
        found.append(error)
    return found


def _check_action(action: str, known: set[str] | None, rule: int | None) -> None:
    if known is None or action in known:
        return
    declared = ", ".join(sorted(known - {NO_ACTION})) or "none declared"
    where = "the default" if rule is None else "the rule's action"
    raise PolicyError(
        f"unknown action {action!r} in {where}{did_you_mean(action, known)}; declare it under "
        f"'actions' (declared: {declared}) or use 'none'",
        rule=rule,
        key="action",
    )


# -- control group hash ----------------------------------------------------------------------


def _fmix64(value: int) -> int:
    value ^= value >> 33
    value = (value * _MIX1) & _MASK64
    value ^= value >> 33
    value = (value * _MIX2) & _MASK64
    return value ^ (value >> 33)


def _fnv1a(text: str) -> int:
    state = _FNV_OFFSET
    for byte in text.encode("utf-8"):
        state = ((state ^ byte) * _FNV_PRIME) & _MASK64
    return state


def control_value(app: str, entity_id: str) -> float:
    """The entity's stable position in [0, 1) for ``app`` (reference, one id at a time).

    Definition: ``b`` = UTF-8 bytes of ``entity_id``; ``h`` = murmur3's ``fmix64`` of
    (FNV-1a-64 of the UTF-8 bytes of ``app``) XOR (``len(b)`` × 0x9E3779B97F4A7C15 mod 2^64);
    then for each 8-byte little-endian word ``w`` of ``b`` zero-padded to a multiple of 8:
    ``h = fmix64(h XOR w)``. The value is ``(h >> 11) / 2^53``.
    """
    data = entity_id.encode("utf-8")
    state = _fmix64(_fnv1a(app) ^ ((len(data) * _GOLDEN) & _MASK64))
    for start in range(0, len(data), 8):
        word = int.from_bytes(data[start : start + 8].ljust(8, b"\0"), "little")
        state = _fmix64(state ^ word)
    return (state >> 11) / float(1 << 53)


def control_values(app: str, entity_ids: pl.Series) -> npt.NDArray[np.float64]:
    """:func:`control_value` for a whole String Series, vectorised with numpy (null → 1.0).

    The ids' UTF-8 bytes are read straight from the Arrow buffer. Ids of one length (the usual
    case) are copied once into a zero-padded matrix of 8-byte words; otherwise each word is
    gathered per row and masked to the id's length.
    """
    n = entity_ids.len()
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    array = entity_ids.cast(pl.String).rechunk().to_arrow()
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[array.offset : array.offset + n + 1]
    buffer = array.buffers()[2]
    data = np.frombuffer(buffer, dtype=np.uint8) if buffer is not None else np.zeros(0, np.uint8)
    starts, lengths = offsets[:-1], np.diff(offsets)
    longest = int(lengths.max())
    prefix = _fnv1a(app)
    seeds = [_fmix64(prefix ^ ((size * _GOLDEN) & _MASK64)) for size in range(longest + 1)]
    state = np.array(seeds, dtype=np.uint64)[lengths]  # the seed depends on the length only
    scratch = np.empty(n, dtype=np.uint64)
    words = (longest + 7) // 8
    if bool((lengths == longest).all()):
        block = data[offsets[0] : offsets[0] + n * longest].reshape(n, longest)
        matrix = np.zeros((n, words * 8), dtype=np.uint8)
        matrix[:, :longest] = block
        columns = matrix.view("<u8")
        for index in range(words):
            np.bitwise_xor(state, columns[:, index], out=state)
            _fmix64_inplace(state, scratch)
    else:
        padded = np.concatenate([data, np.zeros(8, dtype=np.uint8)])
        windows = np.lib.stride_tricks.as_strided(
            padded, shape=(padded.size - 7, 8), strides=(1, 1), writeable=False
        )
        keep = np.array([(1 << (8 * r)) - 1 for r in range(9)], dtype=np.uint64)
        for index in range(words):
            remaining = lengths - 8 * index
            word = windows[np.minimum(starts + 8 * index, padded.size - 8)].view("<u8").ravel()
            word &= keep[np.clip(remaining, 0, 8)]
            mixed = np.bitwise_xor(state, word)
            _fmix64_inplace(mixed, scratch)
            np.copyto(state, mixed, where=remaining > 0)
    values: npt.NDArray[np.float64] = np.right_shift(state, np.uint64(11)).astype(np.float64)
    values /= float(1 << 53)
    if entity_ids.null_count():
        values[entity_ids.is_null().to_numpy()] = 1.0
    return values


def _fmix64_inplace(state: npt.NDArray[np.uint64], scratch: npt.NDArray[np.uint64]) -> None:
    """murmur3's 64-bit finaliser, in place, without temporaries."""
    for multiplier in (_MIX1, _MIX2):
        np.right_shift(state, np.uint64(33), out=scratch)
        np.bitwise_xor(state, scratch, out=state)
        np.multiply(state, np.uint64(multiplier), out=state)
    np.right_shift(state, np.uint64(33), out=scratch)
    np.bitwise_xor(state, scratch, out=state)
