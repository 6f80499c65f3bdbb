"""The audit trail: verify the chain and describe the result for people."""

from __future__ import annotations

from doorstep.store.protocols import AuditReport, AuditStore

__all__ = ["describe_report", "verify_audit"]


def verify_audit(store: AuditStore) -> AuditReport:
    """Walk the whole chain and the rows it vouches for; see ``docs/audit.md``."""
    return store.verify_audit()


def describe_report(report: AuditReport) -> str:
    """One line for people: ``ok`` with the head, or the first bad event and what is wrong."""
    if report.ok:
        head = report.details.get("head_hash", "")
        return f"ok: {report.events} events verified; head {str(head)[:16]}"
    where = f"event {report.first_bad_seq}" if report.first_bad_seq is not None else "a row"
    extra = ", ".join(f"{k}={v}" for k, v in report.details.items())
    return (
        f"{where}: {report.problem}"
        + (f" ({extra})" if extra else "")
        + (f" after {report.events} good events")
    )
