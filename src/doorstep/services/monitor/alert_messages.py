"""What an alert says: the text people read in chat and e-mail, and the JSON a webhook receives
(``{"type", "timestamp", "data"}``, as Standard Webhooks suggests)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from doorstep.core.stats.drift_report import Status
from doorstep.store.canonical import iso

__all__ = ["Observation", "alert_message", "report_url", "retrain_message", "statistic_name"]

_STATISTICS = {
    "psi": "PSI",
    "js_distance": "Jensen-Shannon distance",
    "wasserstein_norm": "normalised Wasserstein",
    "out_of_range_rate": "out-of-range rate",
    "unseen_rate": "unseen-category rate",
    "missing_rate": "missing rate",
    "attribution_share_change": "change of attribution share",
    "reconstruction_increase": "rise of the PCA reconstruction error",
    "auc": "AUC",
    "precision": "precision",
    "recall": "recall",
    "f1": "F1",
    "expected_value": "expected value per decision",
    "accuracy": "accuracy",
    "brier": "Brier score",
    "mae": "MAE",
    "rmse": "RMSE",
    "override_rate": "override rate",
    "demographic_parity_difference": "demographic-parity difference",
    "demographic_parity_ratio": "demographic-parity ratio",
    "equalized_odds_difference": "equalized-odds difference",
    "rejected_rate": "rejected rate",
}


@dataclass(frozen=True)
class Observation:
    """How one subject looks in the window judged."""

    subject: str
    """``drift.<feature>``, ``drift.score``, ``drift.attribution``, ``drift.multivariate``,
    ``quality.<metric>``, ``estimated.<metric>`` or ``fairness.<attribute>.<statistic>``."""
    kind: str
    """``drift``, ``quality`` or ``fairness``."""
    name: str
    """The feature, ``score``, or the metric."""
    label: str
    """For people: the field's label, or the metric's name."""
    status: Status
    statistic: str | None
    value: float | None
    threshold: float | None
    checks: tuple[str, ...]
    """Every threshold crossed, e.g. ``PSI 1.75 >= 0.25 (alert)``."""
    window: str
    start: datetime
    end: datetime
    count: int
    """Decisions (drift) or labelled decisions (quality) in the window."""
    streak: int
    """Consecutive windows, up to the judged one, in ``alert``."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "kind": self.kind,
            "name": self.name,
            "status": self.status,
            "statistic": self.statistic,
            "value": self.value,
            "threshold": self.threshold,
            "checks": list(self.checks),
            "window": {"size": self.window, "start": iso(self.start), "end": iso(self.end)},
            "count": self.count,
            "streak": self.streak,
        }


def statistic_name(statistic: str | None) -> str:
    return _STATISTICS.get(statistic or "", statistic or "")


def report_url(public_url: str | None, app: str) -> str | None:
    """The app's dashboard, where the monitoring report is read (``None`` without a URL)."""
    return f"{public_url.rstrip('/')}/apps/{app}" if public_url else None


def _what(obs: Observation) -> str:
    if obs.kind == "drift":
        return "drift of the score" if obs.name == "score" else f"drift of {obs.label}"
    return obs.label


def _window(obs: Observation) -> str:
    text = iso(obs.start)[:16].replace("T", " ")
    if obs.window == "day":
        text = text[:10]
    return f"the {obs.window} from {text} UTC"


def _measure(obs: Observation) -> str:
    if obs.checks:
        return "; ".join(obs.checks)
    if obs.value is None:
        return "no value"
    return f"{statistic_name(obs.statistic)} {obs.value:.4g}"


def alert_message(
    event: str,
    app: str,
    obs: Observation,
    *,
    breach_id: str,
    level: str,
    opened_at: datetime | None,
    now: datetime,
    public_url: str | None,
    owner: str | None = None,
) -> dict[str, Any]:
    """The outbox message (``context``, ``payload``, ``text``) of one transition: ``event`` is
    ``alert.raised``, ``alert.escalated`` or ``alert.resolved``; ``owner``, the app's owner, is
    named in it."""
    unit = "labelled decisions" if obs.kind in ("quality", "canary") else "decisions"
    where = f"in {_window(obs)} ({obs.count:,} {unit})"
    if obs.kind == "canary":
        where = f"(decisions since {iso(obs.start)[:16].replace('T', ' ')} UTC)"
    elif obs.kind == "governance":
        where = f"on {iso(obs.end)[:10]}"
    if event == "alert.resolved":
        since = f"; open since {iso(opened_at)[:16].replace('T', ' ')} UTC" if opened_at else ""
        head = f"RESOLVED {app}: {_what(obs)} is back within its thresholds"
        body = f"{_measure(obs)} {where}{since}."
    else:
        word = "ESCALATED" if event == "alert.escalated" else level.upper()
        head = f"{word} {app}: {_what(obs)}"
        body = f"{_measure(obs)} {where}."
        if obs.streak > 1:
            body += f" In alert for {obs.streak} windows in a row."
    url = report_url(public_url, app)
    text = head + "\n" + body + _owner_line(owner) + (f"\nReport: {url}" if url else "")
    data = {
        "app": app,
        "owner": owner,
        "breach_id": breach_id,
        "level": level,
        **obs.as_dict(),
        "opened_at": iso(opened_at) if opened_at else None,
        "report_url": url,
        "text": text,
    }
    payload = {"type": event, "timestamp": iso(now), "data": data}
    context = {
        "app": app,
        "owner": owner or "",
        "action": event,
        "alert": data,
        "report_url": url or "",
        "text": text,
    }
    return {"context": context, "payload": payload, "text": text}


def _owner_line(owner: str | None) -> str:
    return f"\nOwner: {owner}" if owner else ""


def retrain_message(
    app: str,
    sustained: list[Observation],
    *,
    retrain_id: str,
    after: int,
    now: datetime,
    public_url: str | None,
    owner: str | None = None,
) -> dict[str, Any]:
    """The ``retrain.requested`` event: which subjects stayed in alert, for how long."""
    url = report_url(public_url, app)
    names = ", ".join(_what(o) for o in sustained)
    text = (
        f"RETRAIN {app}: {names} in alert for at least {after} windows in a row"
        + _owner_line(owner)
        + (f"\nReport: {url}" if url else "")
    )
    data = {
        "app": app,
        "owner": owner,
        "retrain_id": retrain_id,
        "after": after,
        "sustained": [o.as_dict() for o in sustained],
        "report_url": url,
        "text": text,
    }
    payload = {"type": "retrain.requested", "timestamp": iso(now), "data": data}
    context = {
        "app": app,
        "owner": owner or "",
        "action": "retrain.requested",
        "retrain": data,
        "text": text,
    }
    return {"context": context, "payload": payload, "text": text}
