"""Conformance checks for feature sources (see :mod:`doorstep.sources.base`)::

    from doorstep.testing import check_feature_source

    def test_my_source(bigtable_emulator):
        check_feature_source(
            BigtableFeatureSource,
            BigtableSpec(type="bigtable", table="customers"),
            fields=["tenure_months", "plan"],
            known=["C-1", "C-2"],
            unreachable=BigtableSpec(type="bigtable", table="customers", port=9),
        )

``known`` are ids the source holds one row for; ``unreachable`` a spec whose backend cannot be
reached (a closed port), whose lookups must raise
:class:`~doorstep.errors.FeatureSourceUnavailableError` — never another exception, which would
answer 500 — and, with a ``probe``, whose probe must too. Each failed check raises
:class:`AssertionError` naming the source, the check and what was wrong.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from doorstep.errors import FeatureSourceUnavailableError
from doorstep.sources.base import FeatureRow, SourceFactory
from doorstep.sources.ids import MAX_ID_LENGTH

__all__ = ["check_feature_source"]

UNKNOWN_IDS = (
    "doorstep-conformance-unknown",
    "C-1' OR '1'='1",  # text, never SQL
    "{id}:*",  # text, never a key pattern
    "Zoë ✓",
    "x" * MAX_ID_LENGTH,
)
"""Ids every source must answer as unknown, without an error (ids pass
:mod:`doorstep.sources.ids` before they reach a source: these are valid)."""


def check_feature_source(
    factory: type,
    spec: Any,
    *,
    fields: Sequence[str],
    known: Sequence[str],
    id_field: str = "customer_id",
    base_dir: Path = Path("."),
    unreachable: Any | None = None,
) -> None:
    """Run every conformance check on the source class ``factory`` with a working ``spec``."""
    name = getattr(factory, "__name__", repr(factory))

    def build(settings: Any) -> Any:
        built: SourceFactory = factory  # type: ignore[assignment]
        return built.from_spec(
            "conformance", settings, id_field=id_field, fields=list(fields), base_dir=base_dir
        )

    source = _run(name, "from_spec", lambda: build(spec))
    try:
        _check_shape(name, source, fields)
        if callable(getattr(source, "probe", None)):
            _run(name, "probe", source.probe)
        empty = _run(name, "lookup", lambda: source.lookup([]))
        _check(name, "lookup", not empty, f"no id asked must find nothing, got {empty!r}")
        asked = [*known, *UNKNOWN_IDS]
        found = _run(name, "lookup", lambda: source.lookup(asked))
        _check(name, "lookup", isinstance(found, dict), f"expected a dict, got {found!r}")
        extra, missing = sorted(set(found) - set(known)), sorted(set(known) - set(found))
        _check(
            name,
            "lookup",
            not extra and not missing,
            f"expected the known ids {sorted(known)!r} alone; found ids it does not hold: "
            f"{[i[:40] for i in extra]!r}, missed: {missing!r}",
        )
        for entity, row in found.items():
            _check_row(name, entity, row, source.fields)
        many = [f"doorstep-conformance-{i}" for i in range(1_000)]
        _check(name, "many ids", not _run(name, "many ids", lambda: source.lookup(many)), "")
    finally:
        _run(name, "close", source.close)
    if unreachable is not None:
        _check_unreachable(name, build, unreachable, known)


def _check_shape(name: str, source: Any, fields: Sequence[str]) -> None:
    for attribute in ("name", "kind", "fields", "timeout", "lookup", "close"):
        _check(name, "shape", hasattr(source, attribute), f"the source has no {attribute!r}")
    _check(name, "shape", source.name == "conformance", f"name is {source.name!r}")
    _check(
        name,
        "shape",
        isinstance(source.fields, tuple) and set(source.fields) <= set(fields),
        f"fields must be a tuple of input fields, got {source.fields!r}",
    )
    timeout = source.timeout
    _check(name, "shape", isinstance(timeout, int | float) and timeout > 0, f"timeout {timeout!r}")


def _check_row(name: str, entity: str, row: Any, fields: Sequence[str]) -> None:
    where = f"the row of {entity!r}"
    _check(name, "row", isinstance(row, FeatureRow), f"{where} is no FeatureRow: {row!r}")
    _check(name, "row", set(row.values) <= set(fields), f"{where} has {sorted(row.values)!r}")
    stamp = row.observed_at
    _check(
        name,
        "row",
        stamp is None or (isinstance(stamp, datetime) and stamp.tzinfo is not None),
        f"{where}: observed_at must be None or an aware datetime, got {stamp!r}",
    )
    _check(name, "row", row.rows == 1, f"{where} says {row.rows!r} rows; known ids have one")


def _check_unreachable(
    name: str, build: Callable[[Any], Any], spec: Any, known: Sequence[str]
) -> None:
    broken = _run(name, "from_spec", lambda: build(spec))  # no connection is made yet
    try:
        checks: list[tuple[str, Callable[[], Any]]] = [
            ("unreachable", lambda: broken.lookup(known))
        ]
        if callable(getattr(broken, "probe", None)):
            checks.append(("unreachable probe", broken.probe))
        for check, call in checks:
            started = time.monotonic()
            try:
                call()
            except FeatureSourceUnavailableError:
                pass
            except Exception as exc:
                raise AssertionError(
                    f"check_feature_source[{name}] {check}: raised {type(exc).__name__}: {exc}; "
                    "expected FeatureSourceUnavailableError"
                ) from exc
            else:
                raise AssertionError(
                    f"check_feature_source[{name}] {check}: an unreachable source answered"
                )
            took = time.monotonic() - started
            limit = 2 * broken.timeout + 1
            _check(name, check, took < limit, f"took {took:.1f} s (timeout {broken.timeout} s)")
    finally:
        broken.close()


def _check(name: str, check: str, condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(f"check_feature_source[{name}] {check}: {message}")


def _run(name: str, check: str, body: Callable[[], Any]) -> Any:
    try:
        return body()
    except AssertionError as exc:
        raise AssertionError(f"check_feature_source[{name}] {check}: {exc}") from exc
    except Exception as exc:
        raise AssertionError(
            f"check_feature_source[{name}] {check}: raised {type(exc).__name__}: {exc}"
        ) from exc
