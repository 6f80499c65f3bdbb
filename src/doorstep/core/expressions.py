"""Compile one SQL boolean expression (a policy rule's ``when``) into one polars expression.

The text is parsed by sqlglot and the syntax tree is walked with an allow-list: anything not
listed below is refused with a :class:`~doorstep.errors.PolicyError` that carries the 0-based
character position of the offending text. Types are checked at compile time, so a rule that
compares a number with text, or a category with a value it does not have, never reaches a batch.

Allowed: ``AND OR NOT``, parentheses, ``= == <> != < <= > >=``, ``IN (...)``, ``BETWEEN``,
``LIKE`` / ``ILIKE`` with a literal pattern, ``IS [NOT] NULL``, ``IS [NOT] TRUE|FALSE``,
``+ - * /``, unary minus, string / number / ``TRUE`` / ``FALSE`` literals, column names, and
the functions ``COALESCE``, ``ABS``, ``LEAST``, ``GREATEST``.

Nulls follow SQL's three-valued logic: a comparison with a missing value is unknown, ``NOT``
of unknown is unknown, ``x / 0`` is unknown, and an unknown rule does not match.

Beside the polars expression, most rules also compile to a plain-Python test of one row
(:attr:`CompiledExpression.test`), for the few rows of an online micro-batch, where a polars
query's fixed cost is most of the work. It follows polars' semantics exactly (numbers compared
and added as polars' types would be), and where it could not (a NaN, an integer leaving 64 bits)
it raises :class:`RowFallback` and the caller evaluates the batch with polars. Rules it does not
cover (date-times, ILIKE, LIKE patterns that need a regular expression) have no test.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, NoReturn

import polars as pl
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokenizer_core import TokenType
from sqlglot.tokens import Tokenizer

from doorstep.core.suggest import closest, did_you_mean
from doorstep.errors import PolicyError

__all__ = [
    "CompiledExpression",
    "Kind",
    "RowFallback",
    "RowTest",
    "compile_expression",
    "kind_of",
]

Kind = Literal["number", "text", "bool", "datetime", "null"]

_KINDS: dict[str, Kind] = {
    "int": "number",
    "float": "number",
    "score": "number",
    "bool": "bool",
    "category": "text",
    "string": "text",
    "datetime": "datetime",
}
_DESCRIBED: dict[Kind, str] = {
    "number": "a number",
    "text": "text",
    "bool": "true/false",
    "datetime": "a date-time",
    "null": "NULL",
}
_ALLOWED = (
    "comparisons, AND/OR/NOT, IN, BETWEEN, LIKE, IS NULL, + - * /, "
    "COALESCE, ABS, LEAST and GREATEST"
)
_COMPARISONS: dict[type[exp.Expr], str] = {
    exp.EQ: "eq",
    exp.NEQ: "ne",
    exp.GT: "gt",
    exp.GTE: "ge",
    exp.LT: "lt",
    exp.LTE: "le",
}
_KEYWORDS: dict[type[exp.Expr], str] = {
    exp.Subquery: "select",
    exp.Query: "select",
    exp.Case: "case",
    exp.Cast: "cast",
    exp.Exists: "exists",
}
_REGEX_META = set("\\.+*?()|[]{}^$#&-~")


def kind_of(column_type: str) -> Kind:
    """The expression kind of a column type (``int`` → ``number``); ValueError if unknown."""
    try:
        return _KINDS[column_type]
    except KeyError:
        raise ValueError(
            f"unknown column type {column_type!r}; expected one of {', '.join(_KINDS)}"
        ) from None


RowTest = Callable[[Mapping[str, Any]], bool]
"""A condition on one row (column name → value, ``None`` for missing): true or false."""
_Row = Callable[[Mapping[str, Any]], Any]
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


class RowFallback(Exception):  # noqa: N818 - a signal to the caller, not an error
    """A row test met a value whose polars result it does not reproduce (NaN, a 64-bit
    integer overflow): evaluate the batch with the polars expression instead."""


@dataclass(frozen=True)
class CompiledExpression:
    """A rule condition as a polars boolean expression (null already counts as false)."""

    text: str
    expr: pl.Expr
    columns: frozenset[str]
    test: RowTest | None = None
    """The same condition on one row in plain Python (``None`` when the rule uses what the
    row test does not cover); may raise :class:`RowFallback`."""


def compile_expression(
    text: str,
    columns: Mapping[str, str],
    *,
    categories: Mapping[str, Collection[str]] | None = None,
    rule: int | None = None,
) -> CompiledExpression:
    """Compile ``text``; ``columns`` maps usable names to their type (``int``, ``score``...).

    Raises :class:`~doorstep.errors.PolicyError` with ``rule`` and the character position.
    """
    compiler = _Compiler(text, columns, categories or {}, rule)
    tree = compiler.parse()
    value = compiler.compile(tree)
    if value.kind != "bool":
        compiler.fail(
            f"a rule must be a condition that is true or false (e.g. score >= 0.8), "
            f"but this is {_DESCRIBED[value.kind]}",
            tree,
        )
    test = None if value.row is None else _true(value.row)
    return CompiledExpression(text, value.expr.fill_null(False), frozenset(compiler.used), test)


def _true(row: _Row) -> RowTest:
    return lambda values: row(values) is True


@dataclass(frozen=True)
class _Value:
    expr: pl.Expr
    kind: Kind
    node: exp.Expr
    column: str | None = None
    literal: object = None
    is_literal: bool = False
    row: _Row | None = None
    """The value on one row in plain Python (``None``: not covered by the row test)."""
    floating: bool = False
    """A number polars holds as Float64 (else Int64): how it is compared and added."""


@dataclass
class _Compiler:
    text: str
    columns: Mapping[str, str]
    categories: Mapping[str, Collection[str]]
    rule: int | None
    used: set[str] = field(default_factory=set)

    # -- errors and positions ------------------------------------------------------------------

    def fail(
        self, message: str, where: exp.Expr | int | None = None, *, column: str | None = None
    ) -> NoReturn:
        position = where if isinstance(where, int) or where is None else self.locate(where)
        raise PolicyError(message, rule=self.rule, position=position, column=column)

    def locate(self, node: exp.Expr) -> int | None:
        """Where a node starts in the text.

        sqlglot records positions on identifiers, literals and function names only, so a
        keyword construct (sub-query, CASE, CAST) is found as the last occurrence of its
        keyword before its first positioned child; other nodes without any position are
        searched for as text after the start of the nearest enclosing positioned node.
        """
        keyword = next((k for t, k in _KEYWORDS.items() if isinstance(node, t)), None)
        start = _span(node)[0]
        if keyword is not None:
            before = self.text if start is None else self.text[: start + 1]
            hits = list(re.finditer(rf"\b{keyword}\b", before, re.IGNORECASE))
            if hits:
                return hits[-1 if start is not None else 0].start()
        if start is not None:
            return start
        origin, parent = 0, node.parent
        while parent is not None:
            found = _span(parent)[0]
            if found is not None:
                origin = found
                break
            parent = parent.parent
        index = self.text.lower().find(node.sql().lower(), origin)
        return index if index >= 0 else origin

    def snippet(self, node: exp.Expr) -> str:
        start, end = _span(node)
        if start is None or end is None:
            return node.sql()
        return self.text[start : end + 1]

    # -- parsing -------------------------------------------------------------------------------

    def parse(self) -> exp.Expr:
        if not self.text.strip():
            self.fail("the rule is empty; write a condition such as score >= 0.8", 0)
        try:
            tokens = Tokenizer().tokenize(self.text)
        except TokenError:
            self.fail("a quoted string is not closed", _unclosed_quote(self.text))
        for token in tokens:
            if token.token_type == TokenType.SEMICOLON:
                self.fail("';' is not allowed: a rule is one condition", token.start)
        try:
            tree = sqlglot.parse_one(self.text, into=exp.Condition)
        except ParseError as error:
            details = error.errors[0] if error.errors else {}
            highlight = str(details.get("highlight") or "")
            position = _offset(self.text, details.get("line"), details.get("col"), highlight)
            near = f" near {highlight!r}" if highlight else ""
            self.fail(f"cannot read the rule{near}; rules may use {_ALLOWED}", position)
        return tree

    # -- compilation ---------------------------------------------------------------------------

    def compile(self, node: exp.Expr) -> _Value:
        if isinstance(node, exp.Paren):
            inner = self.compile(node.this)
            return _Value(
                inner.expr,
                inner.kind,
                node,
                inner.column,
                inner.literal,
                inner.is_literal,
                inner.row,
                inner.floating,
            )
        if isinstance(node, exp.And | exp.Or):
            left, right = self.condition(node.this), self.condition(node.expression)
            if isinstance(node, exp.And):
                return _Value(left.expr & right.expr, "bool", node, row=_and(left.row, right.row))
            return _Value(left.expr | right.expr, "bool", node, row=_or(left.row, right.row))
        if isinstance(node, exp.Not):
            inner = self.condition(node.this)
            return _Value(~inner.expr, "bool", node, row=_not(inner.row))
        if type(node) in _COMPARISONS:
            return self.compare(_COMPARISONS[type(node)], node.this, node.expression, node)
        if isinstance(node, exp.Is):
            return self.is_(node)
        if isinstance(node, exp.In):
            return self.in_(node)
        if isinstance(node, exp.Between):
            low = self.compare("ge", node.this, node.args["low"], node)
            high = self.compare("le", node.this, node.args["high"], node)
            return _Value(low.expr & high.expr, "bool", node, row=_and(low.row, high.row))
        if isinstance(node, exp.Like | exp.ILike):
            return self.like(node)
        if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Div):
            return self.arithmetic(node)
        if isinstance(node, exp.Neg):
            inner = self.numeric(node.this)
            row = _unary(inner.row, operator.neg, inner.floating)
            return _Value(-inner.expr, "number", node, row=row, floating=inner.floating)
        if isinstance(node, exp.Literal):
            return self.literal(node)
        if isinstance(node, exp.Boolean):
            value = bool(node.this)
            return _Value(
                pl.lit(value), "bool", node, literal=value, is_literal=True, row=_constant(value)
            )
        if isinstance(node, exp.Null):
            return _Value(pl.lit(None), "null", node, is_literal=True, row=_constant(None))
        if isinstance(node, exp.Column):
            return self.column(node)
        if isinstance(node, exp.Coalesce | exp.Least | exp.Greatest | exp.Abs):
            return self.function(node)
        return self.unsupported(node)

    def unsupported(self, node: exp.Expr) -> _Value:
        if isinstance(node, exp.Query | exp.Subquery):
            self.fail(f"sub-queries are not allowed in a rule; rules may use {_ALLOWED}", node)
        if isinstance(node, exp.Case):
            self.fail("CASE is not supported: write one rule per case (the first match wins)", node)
        if isinstance(node, exp.Cast):
            self.fail("CAST is not supported: columns already have the types of the spec", node)
        if isinstance(node, exp.Func):
            name = str(node.this) if isinstance(node, exp.Anonymous) else node.key
            options = ["COALESCE", "ABS", "LEAST", "GREATEST"]
            hint = did_you_mean(name.upper(), options)
            self.fail(
                f"function {name.upper()}() is not supported{hint}; "
                f"the functions allowed are {', '.join(options)}",
                node,
            )
        self.fail(
            f"{self.snippet(node)!r} is not allowed in a rule; rules may use {_ALLOWED}", node
        )

    def condition(self, node: exp.Expr) -> _Value:
        value = self.compile(node)
        if value.kind != "bool":
            self.fail(
                f"{self.snippet(node)!r} is {_DESCRIBED[value.kind]}, not a condition; "
                "AND, OR and NOT combine conditions such as score >= 0.8",
                node,
            )
        return value

    def numeric(self, node: exp.Expr) -> _Value:
        value = self.compile(node)
        if value.kind != "number":
            self.fail(
                f"{self.snippet(node)!r} is {_DESCRIBED[value.kind]}; arithmetic needs numbers",
                node,
            )
        return value

    def column(self, node: exp.Column) -> _Value:
        if node.args.get("table") is not None:
            self.fail(
                f"{self.snippet(node)!r}: write the column name alone, without a prefix", node
            )
        identifier = node.this
        if not isinstance(identifier, exp.Identifier):
            return self.unsupported(node)
        name = str(identifier.this)
        if name not in self.columns:
            hint = did_you_mean(name, self.columns)
            if identifier.args.get("quoted") and not hint:
                hint = f" (text values take single quotes: '{name}')"
            if not hint:
                hint = f"; a rule may use {_listed(self.columns)}"
            self.fail(f"unknown column {name!r}{hint}", node, column=name)
        self.used.add(name)
        kind = kind_of(self.columns[name])
        row = None if kind == "datetime" else _column(name)
        floating = self.columns[name] in ("float", "score")
        return _Value(pl.col(name), kind, node, column=name, row=row, floating=floating)

    def literal(self, node: exp.Literal) -> _Value:
        raw = str(node.this)
        if node.is_string:
            expr = pl.lit(raw, dtype=pl.String)
            return _Value(expr, "text", node, literal=raw, is_literal=True, row=_constant(raw))
        number: int | float
        try:
            number = int(raw)
        except ValueError:
            number = float(raw)
        floating = isinstance(number, float)
        dtype = pl.Float64 if floating else pl.Int64
        if not floating and not _INT_MIN <= number <= _INT_MAX:
            row = None  # polars' Int64 literal, not Python's unbounded int
        else:
            row = _constant(number)
        return _Value(
            pl.lit(number, dtype=dtype),
            "number",
            node,
            literal=number,
            is_literal=True,
            row=row,
            floating=floating,
        )

    def compare(self, op: str, left_node: exp.Expr, right_node: exp.Expr, node: exp.Expr) -> _Value:
        left, right = self.compile(left_node), self.compile(right_node)
        left, right = self.unify(left, right, node)
        if left.kind == "bool" and op not in ("eq", "ne"):
            self.fail("true/false values can only be compared with = or <>", node)
        expr = getattr(left.expr, op)(right.expr)
        return _Value(expr, "bool", node, row=_compare(op, left, right))

    def unify(self, left: _Value, right: _Value, node: exp.Expr) -> tuple[_Value, _Value]:
        """Check that two operands can be compared; convert date strings; check categories."""
        for value in (left, right):
            if value.kind == "null":
                self.fail(
                    "a comparison with NULL is never true; use IS NULL or IS NOT NULL", value.node
                )
        if left.kind == "datetime" and right.kind == "text" and right.is_literal:
            right = self.datetime_literal(right)
        if right.kind == "datetime" and left.kind == "text" and left.is_literal:
            left = self.datetime_literal(left)
        if left.kind != right.kind:
            offender = right if left.column is not None or not right.column else left
            other = left if offender is right else right
            if other.column is not None and self.columns[other.column] == "category":
                example = _example(self.categories.get(other.column))
                self.fail(
                    f"{other.column} is a category: compare it with a quoted value such as "
                    f"{example}, not {self.snippet(offender.node)}",
                    offender.node,
                )
            self.fail(
                f"cannot compare {self.snippet(left.node)} ({_DESCRIBED[left.kind]}) with "
                f"{self.snippet(right.node)} ({_DESCRIBED[right.kind]})",
                offender.node,
            )
        self.check_category(left, right)
        self.check_category(right, left)
        return left, right

    def check_category(self, column: _Value, literal: _Value) -> None:
        if column.column is None or not literal.is_literal or literal.kind != "text":
            return
        allowed = self.categories.get(column.column)
        if allowed is None or literal.literal in allowed:
            return
        value = str(literal.literal)
        match = closest(value, allowed)
        hint = (
            f" (did you mean {match!r}?)" if match else f"; its categories are {_listed(allowed)}"
        )
        self.fail(f"{column.column} has no category {value!r}{hint}", literal.node)

    def datetime_literal(self, value: _Value) -> _Value:
        text = str(value.literal)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            self.fail(
                f"{text!r} is not an ISO 8601 date or date-time (e.g. '2024-05-01' or "
                "'2024-05-01T10:00:00Z')",
                value.node,
            )
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        expr = pl.lit(parsed.astimezone(UTC), dtype=pl.Datetime("us", "UTC"))
        return _Value(expr, "datetime", value.node, literal=parsed, is_literal=True)

    def is_(self, node: exp.Is) -> _Value:
        value = self.compile(node.this)
        target = node.expression
        if isinstance(target, exp.Null):
            return _Value(value.expr.is_null(), "bool", node, row=_is(value.row, None))
        if isinstance(target, exp.Boolean):
            if value.kind != "bool":
                self.fail(f"IS TRUE/FALSE needs a condition, not {_DESCRIBED[value.kind]}", node)
            flag = bool(target.this)
            expr = value.expr.eq_missing(pl.lit(flag))
            return _Value(expr, "bool", node, row=_is(value.row, flag))
        return self.unsupported(target)

    def in_(self, node: exp.In) -> _Value:
        for key in ("query", "unnest", "field"):
            if node.args.get(key) is not None:
                self.unsupported(node.args[key])
        left = self.compile(node.this)
        items = [self.compile(item) for item in node.expressions]
        if not items:
            self.fail("IN needs at least one value", node)
        for index, item in enumerate(items):
            _, items[index] = self.unify(left, item, node)
        if left.kind == "text" and all(item.is_literal for item in items):
            values = pl.Series([str(item.literal) for item in items], dtype=pl.String)
            expr = left.expr.is_in(pl.lit(values).implode())
            return _Value(expr, "bool", node, row=_member(left.row, frozenset(values.to_list())))
        # x IN (a, b) is x = a OR x = b, with SQL's null semantics (any_horizontal is Kleene)
        row: _Row | None = _constant(False)
        for item in items:
            row = _or(row, _compare("eq", left, item))
        expr = pl.any_horizontal([left.expr == item.expr for item in items])
        return _Value(expr, "bool", node, row=row)

    def like(self, node: exp.Like | exp.ILike) -> _Value:
        value = self.compile(node.this)
        if value.kind != "text":
            self.fail(f"LIKE needs text, not {_DESCRIBED[value.kind]}", node.this)
        pattern = self.compile(node.expression)
        if not pattern.is_literal or pattern.kind != "text":
            self.fail("LIKE needs a quoted pattern such as 'ab%'", node.expression)
        insensitive = isinstance(node, exp.ILike)
        expr = _like(value.expr, str(pattern.literal), insensitive)
        row = None if insensitive else _like_row(value.row, str(pattern.literal))
        if node.args.get("negate"):
            return _Value(~expr, "bool", node, row=_not(row))
        return _Value(expr, "bool", node, row=row)

    def arithmetic(self, node: exp.Expr) -> _Value:
        left, right = self.numeric(node.this), self.numeric(node.expression)
        floating = left.floating or right.floating
        if isinstance(node, exp.Div):
            quotient = pl.when(right.expr != 0).then(left.expr / right.expr)
            row = _divide(left.row, right.row)
            return _Value(quotient, "number", node, row=row, floating=True)
        if isinstance(node, exp.Add):
            expr, op = left.expr + right.expr, operator.add
        elif isinstance(node, exp.Sub):
            expr, op = left.expr - right.expr, operator.sub
        else:
            expr, op = left.expr * right.expr, operator.mul
        row = _binary(left.row, right.row, op, floating)
        return _Value(expr, "number", node, row=row, floating=floating)

    def function(self, node: exp.Expr) -> _Value:
        if isinstance(node, exp.Abs):
            inner = self.numeric(node.this)
            row = _unary(inner.row, abs, inner.floating)
            return _Value(inner.expr.abs(), "number", node, row=row, floating=inner.floating)
        args = [self.compile(arg) for arg in [node.this, *node.expressions]]
        kinds = {arg.kind for arg in args} - {"null"}
        if len(kinds) > 1:
            described = " and ".join(sorted(_DESCRIBED[k] for k in kinds))
            self.fail(f"{node.key.upper()}() mixes {described}; give it one type", node)
        kind: Kind = kinds.pop() if kinds else "null"
        exprs = [arg.expr for arg in args]
        floating = any(arg.floating for arg in args)
        rows = [arg.row for arg in args]
        if isinstance(node, exp.Coalesce):
            row = _coalesce(rows, floating)
            return _Value(pl.coalesce(exprs), kind, node, row=row, floating=floating)
        if kind not in ("number", "datetime"):
            self.fail(f"{node.key.upper()}() needs numbers or date-times", node)
        pick = min if isinstance(node, exp.Least) else max
        row = _extreme(rows, pick, floating)
        if isinstance(node, exp.Least):
            return _Value(pl.min_horizontal(exprs), kind, node, row=row, floating=floating)
        return _Value(pl.max_horizontal(exprs), kind, node, row=row, floating=floating)


# -- the row test: one row's value of each node, None for unknown (SQL's null) ---------------


def _constant(value: object) -> _Row:
    return lambda _values: value


def _column(name: str) -> _Row:
    return lambda values: values.get(name)


def _and(left: _Row | None, right: _Row | None) -> _Row | None:
    if left is None or right is None:
        return None

    def both(values: Mapping[str, Any]) -> bool | None:
        a, b = left(values), right(values)
        if a is False or b is False:
            return False
        return None if a is None or b is None else True

    return both


def _or(left: _Row | None, right: _Row | None) -> _Row | None:
    if left is None or right is None:
        return None

    def either(values: Mapping[str, Any]) -> bool | None:
        a, b = left(values), right(values)
        if a is True or b is True:
            return True
        return None if a is None or b is None else False

    return either


def _not(inner: _Row | None) -> _Row | None:
    if inner is None:
        return None

    def negated(values: Mapping[str, Any]) -> bool | None:
        value = inner(values)
        return None if value is None else not value

    return negated


def _is(inner: _Row | None, target: bool | None) -> _Row | None:
    if inner is None:
        return None
    return lambda values: inner(values) is target


def _member(inner: _Row | None, allowed: frozenset[str]) -> _Row | None:
    if inner is None:
        return None

    def member(values: Mapping[str, Any]) -> bool | None:
        value = inner(values)
        return None if value is None else value in allowed

    return member


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}


def _float(value: Any) -> float:
    """A number as polars' Float64 holds it; NaN (which polars orders above every number and
    equal to itself) is left to polars."""
    number = float(value)
    if number != number:
        raise RowFallback
    return number


def _compare(op: str, left: _Value, right: _Value) -> _Row | None:
    first, second = left.row, right.row
    if first is None or second is None:
        return None
    compare = _OPERATORS[op]
    numbers = left.kind == "number" and right.kind == "number"
    floating = numbers and (left.floating or right.floating)  # Int64 is cast to Float64

    def compared(values: Mapping[str, Any]) -> bool | None:
        a, b = first(values), second(values)
        if a is None or b is None:
            return None
        if floating:
            return compare(_float(a), _float(b))
        return compare(a, b)

    return compared


def _int64(value: int) -> int:
    if not _INT_MIN <= value <= _INT_MAX:
        raise RowFallback  # polars' Int64 would wrap around
    return value


def _binary(
    left: _Row | None, right: _Row | None, op: Callable[[Any, Any], Any], floating: bool
) -> _Row | None:
    if left is None or right is None:
        return None

    def computed(values: Mapping[str, Any]) -> Any:
        a, b = left(values), right(values)
        if a is None or b is None:
            return None
        if floating:
            return _float(op(_float(a), _float(b)))
        return _int64(op(a, b))

    return computed


def _divide(left: _Row | None, right: _Row | None) -> _Row | None:
    if left is None or right is None:
        return None

    def divided(values: Mapping[str, Any]) -> float | None:
        a, b = left(values), right(values)
        if a is None or b is None or b == 0:
            return None
        return _float(_float(a) / _float(b))

    return divided


def _unary(inner: _Row | None, op: Callable[[Any], Any], floating: bool) -> _Row | None:
    if inner is None:
        return None

    def computed(values: Mapping[str, Any]) -> Any:
        value = inner(values)
        if value is None:
            return None
        return _float(op(value)) if floating else _int64(op(value))

    return computed


def _coalesce(rows: list[_Row | None], floating: bool) -> _Row | None:
    if any(row is None for row in rows):
        return None
    present = [row for row in rows if row is not None]

    def first(values: Mapping[str, Any]) -> Any:
        for row in present:
            value = row(values)
            if value is not None:
                return _float(value) if floating else value
        return None

    return first


def _extreme(
    rows: list[_Row | None], pick: Callable[[list[Any]], Any], floating: bool
) -> _Row | None:
    if any(row is None for row in rows):
        return None
    present = [row for row in rows if row is not None]

    def extreme(values: Mapping[str, Any]) -> Any:
        found = [v for v in (row(values) for row in present) if v is not None]
        if not found:
            return None
        return pick([_float(v) for v in found]) if floating else pick(found)

    return extreme


def _like_row(inner: _Row | None, pattern: str) -> _Row | None:
    """Case-sensitive LIKE without ``_`` and with ``%`` only at the ends (what :func:`_like`
    turns into a plain string test); other patterns are left to polars."""
    body = pattern.strip("%")
    if inner is None or "_" in pattern or "%" in body:
        return None
    starts, ends = pattern.startswith("%"), pattern.endswith("%")
    if starts and ends:
        test: Callable[[str], bool] = lambda text: body in text  # noqa: E731
    elif ends:
        test = lambda text: text.startswith(body)  # noqa: E731
    elif starts:
        test = lambda text: text.endswith(body)  # noqa: E731
    else:
        test = lambda text: text == body  # noqa: E731

    def like(values: Mapping[str, Any]) -> bool | None:
        value = inner(values)
        return None if value is None else test(value)

    return like


def _like(value: pl.Expr, pattern: str, insensitive: bool) -> pl.Expr:
    """SQL ``LIKE``: ``%`` any run of characters, ``_`` one character, the rest literal."""
    body = pattern.strip("%")
    plain = "_" not in pattern and "%" not in body
    if plain and not insensitive:
        starts, ends = pattern.startswith("%"), pattern.endswith("%")
        if starts and ends:
            return value.str.contains(body, literal=True)
        if ends:
            return value.str.starts_with(body)
        if starts:
            return value.str.ends_with(body)
        return value == body
    regex = "".join(
        ".*" if ch == "%" else "." if ch == "_" else "\\" + ch if ch in _REGEX_META else ch
        for ch in pattern
    )
    flags = "(?si)" if insensitive else "(?s)"
    return value.str.contains(f"{flags}^{regex}$")


def _span(node: exp.Expr) -> tuple[int | None, int | None]:
    starts, ends = [], []
    for child in node.walk():
        meta = getattr(child, "meta", None) or {}
        if "start" in meta:
            starts.append(int(meta["start"]))
            ends.append(int(meta["end"]))
    return (min(starts), max(ends)) if starts else (None, None)


def _offset(text: str, line: object, col: object, highlight: str) -> int | None:
    """0-based offset from sqlglot's 1-based line and (end) column of the highlighted token."""
    if not isinstance(line, int) or not isinstance(col, int):
        return None
    lines = text.split("\n")
    start = sum(len(row) + 1 for row in lines[: line - 1])
    return max(0, min(len(text), start + col - len(highlight)))


def _unclosed_quote(text: str) -> int:
    """Where the string that is never closed opens (``''`` inside a string is a quote)."""
    opened: int | None = None
    index = 0
    while index < len(text):
        if text[index] == "'":
            if opened is None:
                opened = index
            elif text[index + 1 : index + 2] == "'":
                index += 1
            else:
                opened = None
        index += 1
    return opened if opened is not None else 0


def _listed(values: Collection[str]) -> str:
    shown = list(values)[:10]
    more = f", ... ({len(values)} in all)" if len(values) > 10 else ""
    return ", ".join(repr(v) for v in shown) + more


def _example(values: Collection[str] | None) -> str:
    return repr(next(iter(values))) if values else "'basic'"
