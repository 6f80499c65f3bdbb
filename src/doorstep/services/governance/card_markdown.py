"""A model card (:class:`~doorstep.services.governance.card.ModelCard`) as Markdown: the same
sections and numbers as the HTML page, in tables, for a repository or a wiki."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from doorstep.core.stats.fairness_report import SELECTED
from doorstep.core.stats.intervals import Interval
from doorstep.core.stats.quality_report import QualityMetric
from doorstep.services.governance.card import ModelCard
from doorstep.services.monitor.report_html import QUALITY_METRICS

__all__ = ["render_card_markdown"]

UNSTATED = "Not stated: add card.{key} to the spec."


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(head: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _num(value: float | None, digits: int = 3, scale: float = 1.0) -> str:
    return "—" if value is None else f"{value * scale:.{digits}f}"


def _interval(item: Interval | None, digits: int = 3, scale: float = 1.0, unit: str = "") -> str:
    if item is None or item.value is None:
        return "—"
    text = _num(item.value, digits, scale) + unit
    if item.low is not None and item.high is not None:
        text += f" [{_num(item.low, digits, scale)}, {_num(item.high, digits, scale)}]"
    return text


def _pct(item: Interval | None) -> str:
    return _interval(item, 1, 100, " %")


def render_card_markdown(card: ModelCard) -> str:
    """The whole card as one Markdown document."""
    r = card.monitoring
    text = card.text
    out = [
        f"# {card.app}: model card",
        "",
        *([card.description, ""] if card.description else []),
        f"Generated {card.generated_at.isoformat()} by doorstep {card.doorstep_version} from "
        f"`{card.spec_path}`; live figures of decisions made from {r.since.isoformat()} to "
        f"{r.until.isoformat()} (UTC).",
        "",
        "## Model details",
        "",
        *_table(
            ["", ""],
            [
                ["app", card.app],
                ["owner (accountable)", card.owner],
                ["model file", f"`{card.model_path}`"],
                ["kind", f"{card.model_kind} {card.library_version}".strip()],
                ["task", card.task],
                ["version served", card.model_version],
                ["content hash", f"`{card.content_hash}`"],
                ["registered versions", len(card.versions)],
            ],
        ),
        "## Intended use",
        "",
        text.get("intended_use") or card.description or UNSTATED.format(key="intended_use"),
        "",
        "### Out of scope",
        "",
        text.get("out_of_scope") or UNSTATED.format(key="out_of_scope"),
        "",
        "## Inputs and factors",
        "",
        *_table(
            ["input", "label", "type", "unit", "allowed", "role"],
            [
                [
                    f"`{i.name}`",
                    i.label,
                    i.type,
                    i.unit,
                    i.allowed,
                    ("feature" if i.feature else "not a feature")
                    + (", sensitive" if i.sensitive else "")
                    + (", personal data" if i.pii else ""),
                ]
                for i in card.inputs
            ],
        ),  # fmt: skip
        "## Decisions and metrics",
        "",
        *[f"- {line}" for line in card.policy],
        "",
    ]
    out += _reference(card)
    out += _importance(card)
    out += _live(card)
    out += _fairness(card)
    out += [
        "## Limitations and ethical considerations",
        "",
        "### Limitations",
        "",
        text.get("limitations") or UNSTATED.format(key="limitations"),
        "",
        "### Ethical considerations",
        "",
        text.get("ethical_considerations") or UNSTATED.format(key="ethical_considerations"),
        "",
        "## Versions and approvals",
        "",
        *_table(
            ["version", "content hash", "owner", "registered", "stage"],
            [
                [
                    v["version"],
                    f"`{str(v['content_hash'])[:23]}…`",
                    v["owner"],
                    v["registered_at"].isoformat() if v.get("registered_at") else "—",
                    v.get("stage") or "—",
                ]
                for v in card.versions
            ],
        ),  # fmt: skip
        *_pages(card),
        "### Audit events",
        "",
        *_table(
            ["seq", "when", "event", "subject", "by", "details"],
            [
                [
                    e.seq,
                    e.at.isoformat(),
                    e.kind,
                    e.subject,
                    e.actor,
                    "; ".join(f"{k}: {v}" for k, v in e.payload.items()),
                ]
                for e in card.events
            ],
        ),  # fmt: skip
        'Made by `doorstep card` after "Model Cards for Model Reporting" (Mitchell et al., 2019).',
        "",
    ]
    return "\n".join(out)


def _pages(card: ModelCard) -> list[str]:
    """A subsection per registered version: what it is, its stages, its live figures."""
    out: list[str] = []
    since, until = card.monitoring.since.isoformat(), card.monitoring.until.isoformat()
    for v in card.pages:
        served = ", served now" if v.served else ""
        registered = v.registered_at.isoformat() if v.registered_at else "—"
        out += [f"### Version {v.version}: {v.stage or '—'}{served}", ""]
        out += _table(
            ["", ""],
            [
                ["content hash", f"`{v.content_hash}`"],
                ["owner", v.owner or "—"],
                ["registered", f"{registered} by {v.registered_by}" if v.registered_by
                 else registered],
                *([["notes", v.notes]] if v.notes else []),
                *([["kept at", f"`{v.path}`"]] if v.path else []),
                ["checks", " ".join(v.checks)],
            ],
        )  # fmt: skip
        out += ["#### Stage history", ""]
        out += (
            _table(
                ["when", "from", "to", "by", "why"],
                [
                    [
                        h["at"].isoformat(),
                        h["from_stage"] or "—",
                        h["to_stage"] + (f" {h['share']:.0%}" if h.get("share") else ""),
                        h["actor"],
                        h["reason"],
                    ]
                    for h in v.history
                ],
            )  # fmt: skip
            if v.history
            else ["No change of stage: registered as a candidate.", ""]
        )
        for p in v.promotions:
            approvals = ", ".join(f"{a['approver']} ({a['reason']})" for a in p["approvals"])
            approved = f"; approved by {approvals}" if approvals else ""
            out += [
                f"Promotion requested {p['requested_at'].isoformat()} by {p['requested_by']} "
                f"({p['reason']}): {p['state']}{approved}.",
                "",
            ]
        out += [f"#### Live, {since} to {until}", ""]
        side = v.live
        if side is None:
            out += ["No decision or shadow row in this range.", ""]
            continue
        rows: list[list[object]] = [
            ["shadow rows" if side.role == "shadow" else "decisions", side.decisions],
            ["with an outcome", side.labelled],
        ]
        if side.quality is not None:
            rows += [
                [name, _interval(side.quality.metric(key))]
                for key, name in _metrics(card)
                if side.quality.metric(key) is not None
            ]
        rate = side.override_rate
        rows.append(["override rate", "—" if rate is None else f"{rate * 100:.1f} %"])
        out += _table(["", ""], rows)
        if v.verdict:
            out += [v.verdict, ""]
    return out


def _metrics(card: ModelCard) -> list[tuple[QualityMetric, str]]:
    return list(QUALITY_METRICS.get(card.task, []))


def _reference(card: ModelCard) -> list[str]:
    ref = card.reference
    out = ["## Reference data", ""]
    if card.text.get("training_data"):
        out += [card.text["training_data"], ""]
    if ref.path is None:
        return [*out, ref.note, "", "## Quality on the reference data", "", ref.note, ""]
    label = f", with the outcome column `{ref.label}`" if ref.label else ""
    out += [f"{ref.rows} rows of `{ref.path}`{label}.", ""]
    out += _table(
        ["input", "missing", "min", "mean", "max", "most frequent"],
        [
            [f"`{c.name}`", c.missing, _num(c.minimum, 2), _num(c.mean, 2), _num(c.maximum, 2),
             ", ".join(f"{v} ({n})" for v, n in c.top)]
            for c in ref.columns
        ],
    )  # fmt: skip
    out += ["## Quality on the reference data", ""]
    if ref.quality is None:
        return [*out, ref.note, ""]
    rows = [
        [name, _interval(ref.quality.metric(key))]
        for key, name in _metrics(card)
        if ref.quality.metric(key) is not None
    ]
    return [
        *out,
        *_table(
            ["metric", "value [95% interval]"], [*rows, ["labelled rows", ref.quality.labelled]]
        ),
    ]


def _importance(card: ModelCard) -> list[str]:
    imp = card.importance
    out = ["## What drives the score", ""]
    if not imp.features:
        return [*out, f"No stored explanations in the range ({imp.decisions} decisions read).", ""]
    points = card.task != "regression"
    out += [
        f"From the explanations stored with the latest {imp.decisions} decisions "
        f"({imp.explained} explained, the top {imp.top} reasons each): mean absolute effect.",
        "",
    ]
    return out + _table(
        ["feature", "mean absolute effect [95% interval]", "among the reasons"],
        [
            [f.label, _interval(f.mean_abs_effect, 1 if points else 2, 1, " pts" if points else ""),
             f.shown]
            for f in imp.features
        ],
    )  # fmt: skip


def _live(card: ModelCard) -> list[str]:
    r = card.monitoring
    total = r.quality.total
    counts = r.counts
    out = [
        "## Live quality, ROI and drift",
        "",
        f"{counts.decisions} decisions, {counts.labelled} with a known outcome, "
        f"{counts.would_act} the policy would act on ({counts.control} in the control group).",
        "",
    ]
    rows = [[n, _interval(total.metric(k))] for k, n in _metrics(card) if total.metric(k)]
    out += _table(
        ["metric", "value [95% interval]"], [*rows, ["labelled decisions", total.labelled]]
    )
    out += [f"**ROI: {r.roi.conclusion.replace('_', ' ')}**: {r.roi.message}", ""]
    if r.drift is None:
        return [*out, "Drift not measured: the spec names no reference data.", ""]
    out += [f"Drift against the reference data, worst window: {r.drift.status}.", ""]
    latest = r.drift.latest
    if latest is not None:
        out += _table(
            ["input (latest window)", "rows", "PSI", "status"],
            [[f.name, f.rows, _num(f.psi), f.status] for f in latest.features],
        )
    return out


def _fairness(card: ModelCard) -> list[str]:
    out = ["## Fairness", ""]
    found = card.fairness
    if found is None:
        return [*out, card.fairness_note, ""]
    out += [f"Selected = {found.selected}; groups need {found.min_group} decisions.", ""]
    for a in found.attributes:
        parity = a.parity_difference[SELECTED]
        out += [f"### By {a.attribute}", ""]
        out += [f"- demographic-parity difference: {_pct(parity.estimate)}"
                + (f" ({parity.high_group} highest, {parity.low_group} lowest)"
                   if parity.high_group else "")]  # fmt: skip
        out += [f"- demographic-parity ratio: {_interval(a.parity_ratio[SELECTED].estimate, 2)}"]
        if a.outcomes:
            out += [f"- equalized-odds difference: {_pct(a.equalized_odds_difference.estimate)}"]
        if a.too_few:
            out += [f"- too few (under {a.min_group} decisions): {', '.join(a.too_few)}"]
        out += [""]
        head = ["group", "decisions", "selected"]
        if a.outcomes:
            head += ["TPR", "FPR", "mean score", "observed rate"]
        rows = []
        for g in a.groups:
            row: list[object] = [g.group, g.decisions]
            if not g.enough:
                row += ["too few"] * (len(head) - 2)
            else:
                row.append(_pct(g.selection[SELECTED]))
                if a.outcomes:
                    row += [
                        _pct(g.true_positive_rate) if g.positives >= a.min_group else "too few",
                        _pct(g.false_positive_rate) if g.negatives >= a.min_group else "too few",
                        _interval(g.mean_score) if g.labelled >= a.min_group else "too few",
                        _pct(g.observed_rate) if g.labelled >= a.min_group else "too few",
                    ]
            rows.append(row)
        out += _table(head, rows)
    return out
