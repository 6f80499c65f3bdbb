"""The audit trail: verify the chain, check it against a saved head, describe the result.

An unkeyed hash chain shows any edit, deletion or insertion in the middle, but not a history
rewritten from some event on with every later hash recomputed, nor the newest events deleted
with their rows: only a copy of the head kept elsewhere shows those. An :class:`Anchor` is such
a copy (``SEQ:HASH``, as ``doorstep audit verify`` prints it); :func:`verify_audit` with
``expect`` checks that it still lies on the chain, however many events were appended since.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from doorstep.errors import InputError
from doorstep.store.protocols import ActivityStore, AuditReport, AuditStore
from doorstep.store.views import AppEvents

__all__ = ["Anchor", "app_events", "describe_report", "verify_audit"]

_ANCHOR = re.compile(r"^\s*(\d+):([0-9a-fA-F]{64})\s*$")


@dataclass(frozen=True)
class Anchor:
    """A head of the chain saved elsewhere: event ``seq`` had ``hash``."""

    seq: int
    hash: str

    @classmethod
    def parse(cls, text: str) -> Anchor:
        """``SEQ:HASH`` (64 hex digits), as ``doorstep audit verify`` prints the head."""
        match = _ANCHOR.match(text)
        if match is None or int(match.group(1)) < 1:
            raise InputError(
                "The '--expect' parameter of audit verify must be SEQ:HASH as `doorstep audit "
                "verify` prints the head: an event's seq (1 or more), a colon and its hash of "
                f"64 hex digits. Got {text!r} instead."
            )
        return cls(int(match.group(1)), match.group(2).lower())

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"


def verify_audit(store: AuditStore, expect: Anchor | None = None) -> AuditReport:
    """Walk the whole chain and the rows it vouches for (see ``docs/audit.md``); with
    ``expect``, also check that the saved head is still on it: a chain that ends before it was
    ``truncated``, one where it has another hash was ``rewritten``."""
    report = store.verify_audit()
    if not report.ok or expect is None:
        return report
    head = int(report.details.get("head_seq", 0))
    found = store.audit_hash(expect.seq) if expect.seq <= head else None
    if found == expect.hash:
        return dataclasses.replace(report, details={**report.details, "expected": str(expect)})
    problem = "truncated" if found is None else "rewritten"
    details = {"expected_hash": expect.hash, "head_seq": head}
    if found is not None:
        details["found_hash"] = found
    return AuditReport(
        ok=False, events=report.events, first_bad_seq=expect.seq, problem=problem, details=details
    )


def describe_report(report: AuditReport) -> str:
    """One line for people: ``ok`` with the whole head (``SEQ:HASH``, to keep elsewhere and
    pass to ``--expect`` later), or the first bad event and what is wrong."""
    details = report.details
    if report.ok:
        head = f"{details.get('head_seq', 0)}:{details.get('head_hash', '')}"
        line = f"ok: {report.events} events verified; head {head}"
        if "expected" in details:
            line += f"; the saved head {details['expected']} is on the chain"
        return line
    if report.problem == "truncated":
        return (
            f"event {report.first_bad_seq}: truncated (the saved head is event "
            f"{report.first_bad_seq}, but the chain ends at event {details['head_seq']}: newer "
            f"events were deleted; the {report.events} events left verify)"
        )
    if report.problem == "rewritten":
        return (
            f"event {report.first_bad_seq}: rewritten (its hash is {details['found_hash']}, the "
            f"saved head says {details['expected_hash']}: the history up to it was rewritten "
            f"with every hash recomputed; the {report.events} events verify among themselves)"
        )
    where = f"event {report.first_bad_seq}" if report.first_bad_seq is not None else "a row"
    extra = ", ".join(f"{k}={v}" for k, v in details.items())
    return (
        f"{where}: {report.problem}"
        + (f" ({extra})" if extra else "")
        + f" after {report.events} good events"
    )


def app_events(
    store: ActivityStore, app: str, *, before: int | None = None, limit: int = 50
) -> AppEvents:
    """The audit events that concern ``app``, newest first (the activity feed), a page of
    ``limit`` before the event numbered ``before``."""
    return store.app_events(app, before=before, limit=limit)
