"""The charts of the HTML monitoring report, drawn as inline SVG on the server.

Server-side SVG rather than the pages' uPlot: the report is one file that must open anywhere
(a browser offline, a mail attachment, a file viewer that runs no scripts, a PDF printer), so it
carries no script at all; a chart is a few kilobytes where uPlot alone is 50 KB; and what is
drawn is decided in Python, where it is tested. Each chart has a ``<title>`` and a description
for screen readers, every point a ``<title>`` tooltip with its numbers, and the report puts a
table with the same numbers beside it. Series differ by dash and marker, never by colour alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = ["IntervalRow", "Series", "ThresholdLine", "bar_chart", "interval_chart", "line_chart"]

WIDTH, HEIGHT = 560, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 30, 34
COLOURS = ("#0a58ca", "#b3261e", "#1a7f37", "#8a5300")
DASHES = ("", "6 3", "2 3", "8 3 2 3")
MARKERS = ("circle", "square", "diamond", "triangle")


@dataclass(frozen=True)
class Series:
    """One line: a value per x (``None``: not measured) and, optionally, its 95% interval."""

    name: str
    values: Sequence[float | None]
    low: Sequence[float | None] | None = None
    high: Sequence[float | None] | None = None


@dataclass(frozen=True)
class ThresholdLine:
    """A horizontal line at a threshold: ``level`` (``warn`` or ``alert``) and its label."""

    value: float
    level: str
    label: str


THRESHOLD_COLOURS = {"warn": "#8a5300", "alert": "#b3261e"}
THRESHOLD_DASHES = {"warn": "5 4", "alert": "10 3 2 3"}


def _reach(low: float, high: float, thresholds: Sequence[ThresholdLine]) -> tuple[float, float]:
    """The y range widened to show the thresholds near the data: those within one data span
    of it. A threshold farther away would squash the data flat (AUC moving from 0.971 to 0.955
    against an alert at 0.65), so it is named at the chart's edge instead."""
    span = high - low
    near = [t.value for t in thresholds if low - span <= t.value <= high + span]
    if not near:
        return low, high
    new_low, new_high = min(low, *near), max(high, *near)
    pad = (new_high - new_low) * 0.04
    return (new_low - pad if new_low < low else low), (new_high + pad if new_high > high else high)


def _threshold_parts(
    thresholds: Sequence[ThresholdLine], low: float, high: float, y_of: Callable[[float], float]
) -> list[str]:
    """Each threshold as a dashed line labelled at its right end, or, off the chart, as a
    note at the edge it lies beyond (▲ above, ▼ below)."""
    parts: list[str] = []
    above = below = drawn = 0
    for line in thresholds:
        colour = THRESHOLD_COLOURS.get(line.level, "#555")
        dash = THRESHOLD_DASHES.get(line.level, "4 4")
        label = escape(line.label)
        if low <= line.value <= high:
            y = y_of(line.value)
            # labels alternate between the right and the left end, so close lines stay legible
            x, anchor = (WIDTH - RIGHT - 4, "end") if drawn % 2 == 0 else (LEFT + 4, "start")
            drawn += 1
            parts.append(
                f'<g class="threshold threshold-{line.level}"><line x1="{LEFT}" '
                f'x2="{WIDTH - RIGHT}" y1="{_n(y)}" y2="{_n(y)}" stroke="{colour}" '
                f'stroke-width="1.5" stroke-dasharray="{dash}"><title>{label}</title></line>'
                f'<text class="tick" x="{x}" y="{_n(y - 4)}" text-anchor="{anchor}" '
                f'fill="{colour}">{label}</text></g>'
            )
            continue
        if line.value > high:
            y, mark = TOP + 12 + 13 * above, "▲"
            above += 1
        else:
            y, mark = HEIGHT - BOTTOM - 6 - 13 * below, "▼"
            below += 1
        parts.append(
            f'<text class="tick threshold threshold-{line.level} off-chart" '
            f'x="{WIDTH - RIGHT - 4}" y="{_n(y)}" text-anchor="end" fill="{colour}">'
            f"{mark} {label} (off the chart)</text>"
        )
    return parts


@dataclass(frozen=True)
class IntervalRow:
    """One estimate of an interval chart (a forest plot): its label, value and interval."""

    label: str
    value: float | None
    low: float | None
    high: float | None


def _n(value: float) -> str:
    return f"{value:.1f}"


def _fmt(value: float | None, scale: float = 1.0, digits: int = 3) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value * scale:.{digits}f}"


def _finite(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def _range(values: list[float], fixed: tuple[float, float] | None) -> tuple[float, float]:
    if fixed is not None:
        return fixed
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    if low == high:
        pad = abs(low) * 0.1 or 1.0
        return low - pad, high + pad
    pad = (high - low) * 0.08
    return low - pad, high + pad


def _ticks(low: float, high: float, count: int = 4) -> list[float]:
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def _tick_digits(ticks: list[float], scale: float) -> int:
    if len(ticks) < 2:
        return 0
    step = abs(ticks[1] - ticks[0]) * scale
    if step <= 0:
        return 0
    digits = max(0, -math.floor(math.log10(step) + 1e-9))
    while digits < 6 and abs(round(step, digits) - step) > step * 1e-6:
        digits += 1  # 0.25 needs two digits, not one
    return digits


def _frame(
    title: str, description: str, chart_id: str, legend: Sequence[str] = (), height: int = HEIGHT
) -> list[str]:
    """The chart's opening tag, its accessible name and description, its visible title and a
    legend naming each series by its dash and marker as well as its colour."""
    parts = [
        f'<svg class="chart" id="{chart_id}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(description)}</desc>',
        f'<text class="title" x="{LEFT}" y="16">{escape(title)}</text>',
    ]
    x = float(WIDTH - RIGHT)
    for k in reversed(range(len(legend))):
        name = legend[k]
        width = 7.0 * len(name) + 34
        x -= width
        colour, dash = COLOURS[k % len(COLOURS)], DASHES[k % len(DASHES)]
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<g class="key"><line x1="{_n(x)}" x2="{_n(x + 22)}" y1="12" y2="12" '
            f'stroke="{colour}" class="line"{dashed}/>'
            + _marker(MARKERS[k % len(MARKERS)], x + 11, 12, colour, name)
            + f'<text class="tick" x="{_n(x + 27)}" y="16">{escape(name)}</text></g>'
        )
    return parts


def _axes(
    labels: Sequence[str], low: float, high: float, digits: int, scale: float
) -> tuple[list[str], float, float]:
    """The y grid and both axes' labels; returns the parts and the x step and origin."""
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts: list[str] = []
    ticks = _ticks(low, high)
    digits = max(digits, _tick_digits(ticks, scale))
    for tick in ticks:
        y = TOP + inner_h * (1 - (tick - low) / (high - low))
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_n(y)}" y2="{_n(y)}"/>'
            f'<text class="tick" x="{LEFT - 6}" y="{_n(y + 4)}" text-anchor="end">'
            f"{tick * scale:.{digits}f}</text>"
        )
    count = max(1, len(labels))
    step = inner_w / count
    every = max(1, math.ceil(count / 8))
    for i, label in enumerate(labels):
        if (count - 1 - i) % every == 0:
            x = LEFT + step * (i + 0.5)
            parts.append(
                f'<text class="tick" x="{_n(x)}" y="{HEIGHT - BOTTOM + 16}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.append(
        f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{HEIGHT - BOTTOM}" '
        f'y2="{HEIGHT - BOTTOM}"/>'
    )
    return parts, step, LEFT + step / 2


def _marker(kind: str, x: float, y: float, colour: str, tip: str) -> str:
    title = f"<title>{escape(tip)}</title>"
    if kind == "square":
        return (
            f'<rect x="{_n(x - 3.5)}" y="{_n(y - 3.5)}" width="7" height="7" fill="{colour}">'
            f"{title}</rect>"
        )
    if kind == "diamond":
        corners = ((x, y - 4.5), (x + 4.5, y), (x, y + 4.5), (x - 4.5, y))
        points = " ".join(f"{_n(a)},{_n(b)}" for a, b in corners)
        return f'<polygon points="{points}" fill="{colour}">{title}</polygon>'
    if kind == "triangle":
        points = f"{_n(x)},{_n(y - 4.5)} {_n(x + 4.5)},{_n(y + 3.5)} {_n(x - 4.5)},{_n(y + 3.5)}"
        return f'<polygon points="{points}" fill="{colour}">{title}</polygon>'
    return f'<circle cx="{_n(x)}" cy="{_n(y)}" r="3.5" fill="{colour}">{title}</circle>'


def _runs(values: Sequence[float | None]) -> list[list[int]]:
    """Indexes of consecutive measured values: a line is broken where nothing was measured."""
    runs: list[list[int]] = []
    for i, value in enumerate(values):
        if value is None or not math.isfinite(value):
            continue
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def line_chart(
    chart_id: str,
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    y_range: tuple[float, float] | None = None,
    scale: float = 1.0,
    digits: int = 2,
    unit: str = "",
    thresholds: Sequence[ThresholdLine] = (),
) -> Markup:
    """Lines over windows (``labels``), each with its interval as a band; a line breaks where a
    window has no value, and a lone value is a marker. Without ``y_range`` the axis fits the
    values and their intervals (never a fixed 0 to 1: a fall from 0.971 to 0.955 shows), and
    widens to ``thresholds`` near them; each is drawn as a dashed line."""
    values = [v for s in series for v in (*s.values, *(s.low or ()), *(s.high or ()))]
    low, high = _range(_finite(values), y_range)
    if y_range is None and _finite(values):
        low, high = _reach(low, high, thresholds)
    parts = _frame(title, description, chart_id, [s.name for s in series])
    axes, step, origin = _axes(labels, low, high, 0, scale)
    parts += axes
    inner_h = HEIGHT - TOP - BOTTOM

    def y_of(value: float) -> float:
        clipped = min(max(value, low), high)
        return TOP + inner_h * (1 - (clipped - low) / (high - low))

    for k, s in enumerate(series):
        colour = COLOURS[k % len(COLOURS)]
        if s.low is not None and s.high is not None:
            for run in _runs([v if s.low[i] is not None else None for i, v in enumerate(s.high)]):
                top = [f"{_n(origin + step * i)},{_n(y_of(s.high[i] or 0.0))}" for i in run]
                bottom = [f"{_n(origin + step * i)},{_n(y_of(s.low[i] or 0.0))}" for i in run]
                if len(run) == 1:  # a lone window: its interval as a whisker
                    x = origin + step * run[0]
                    parts.append(
                        f'<line class="whisker" x1="{_n(x)}" x2="{_n(x)}" '
                        f'y1="{_n(y_of(s.low[run[0]] or 0.0))}" '
                        f'y2="{_n(y_of(s.high[run[0]] or 0.0))}" stroke="{colour}"/>'
                    )
                    continue
                parts.append(
                    f'<polygon class="band" points="{" ".join(top + bottom[::-1])}" '
                    f'fill="{colour}"/>'
                )
        dash = DASHES[k % len(DASHES)]
        for run in _runs(s.values):
            if len(run) > 1:
                points = " ".join(
                    f"{_n(origin + step * i)},{_n(y_of(s.values[i] or 0.0))}" for i in run
                )
                dashed = f' stroke-dasharray="{dash}"' if dash else ""
                parts.append(
                    f'<polyline class="line" points="{points}" stroke="{colour}"{dashed}/>'
                )
            for i in run:
                value = s.values[i]
                assert value is not None
                tip = f"{labels[i]} · {s.name}: {_fmt(value, scale, digits + 1)}{unit}"
                if s.low is not None and s.high is not None and s.low[i] is not None:
                    tip += (
                        f" [{_fmt(s.low[i], scale, digits + 1)}, "
                        f"{_fmt(s.high[i], scale, digits + 1)}]"
                    )
                parts.append(
                    _marker(MARKERS[k % len(MARKERS)], origin + step * i, y_of(value), colour, tip)
                )
    parts += _threshold_parts(thresholds, low, high, y_of)
    if not _finite([v for s in series for v in s.values]):
        parts.append(_empty())
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(
    chart_id: str,
    title: str,
    description: str,
    labels: Sequence[str],
    values: Sequence[int],
    *,
    name: str,
) -> Markup:
    """One bar per window (e.g. labelled decisions)."""
    high = max([*values, 1])
    low, top = 0.0, float(_ticks(0.0, high)[-1]) if high > 4 else 4.0
    top = max(top, float(high))
    parts = _frame(title, description, chart_id)
    axes, step, origin = _axes(labels, low, top, 0, 1.0)
    parts += axes
    inner_h = HEIGHT - TOP - BOTTOM
    width = max(1.0, step * 0.7)
    for i, value in enumerate(values):
        if not value:
            continue
        h = inner_h * value / top
        parts.append(
            f'<rect class="bar" x="{_n(origin + step * i - width / 2)}" '
            f'y="{_n(TOP + inner_h - h)}" width="{_n(width)}" height="{_n(h)}" fill="{COLOURS[0]}">'
            f"<title>{escape(labels[i])} · {escape(name)}: {value}</title></rect>"
        )
    if not any(values):
        parts.append(_empty())
    parts.append("</svg>")
    return Markup("".join(parts))


def interval_chart(
    chart_id: str,
    title: str,
    description: str,
    rows: Sequence[IntervalRow],
    *,
    scale: float = 1.0,
    digits: int = 1,
    unit: str = "",
) -> Markup:
    """Estimates with their intervals, one row each, on one horizontal axis with zero marked."""
    label_w, row_h = 150, 34
    height = TOP + row_h * len(rows) + 30
    values = _finite([v for r in rows for v in (r.value, r.low, r.high)]) + [0.0]
    low, high = _range(values, None)
    inner_w = WIDTH - label_w - RIGHT

    def x_of(value: float) -> float:
        return label_w + inner_w * (min(max(value, low), high) - low) / (high - low)

    parts = _frame(title, description, chart_id, height=height)
    bottom = TOP + row_h * len(rows)
    ticks = _ticks(low, high, 5)
    tick_digits = _tick_digits(ticks, scale)
    for tick in ticks:
        x = x_of(tick)
        parts.append(
            f'<line class="grid" x1="{_n(x)}" x2="{_n(x)}" y1="{TOP}" y2="{bottom}"/>'
            f'<text class="tick" x="{_n(x)}" y="{bottom + 16}" text-anchor="middle">'
            f"{tick * scale:.{tick_digits}f}{escape(unit)}</text>"
        )
    zero = x_of(0.0)
    parts.append(f'<line class="zero" x1="{_n(zero)}" x2="{_n(zero)}" y1="{TOP}" y2="{bottom}"/>')
    for i, row in enumerate(rows):
        y = TOP + row_h * (i + 0.5)
        parts.append(
            f'<text class="label" x="{label_w - 8}" y="{_n(y + 4)}" text-anchor="end">'
            f"{escape(row.label)}</text>"
        )
        if row.value is None:
            parts.append(
                f'<text class="tick" x="{label_w + 4}" y="{_n(y + 4)}">not measured</text>'
            )
            continue
        tip = f"{row.label}: {_fmt(row.value, scale, digits)}{unit}"
        if row.low is not None and row.high is not None:
            tip += f" [{_fmt(row.low, scale, digits)}, {_fmt(row.high, scale, digits)}]"
            parts.append(
                f'<line class="whisker" x1="{_n(x_of(row.low))}" x2="{_n(x_of(row.high))}" '
                f'y1="{_n(y)}" y2="{_n(y)}" stroke="{COLOURS[0]}"/>'
            )
            for end in (row.low, row.high):
                parts.append(
                    f'<line class="whisker" x1="{_n(x_of(end))}" x2="{_n(x_of(end))}" '
                    f'y1="{_n(y - 6)}" y2="{_n(y + 6)}" stroke="{COLOURS[0]}"/>'
                )
        parts.append(_marker("diamond", x_of(row.value), y, COLOURS[0], tip))
    parts.append("</svg>")
    return Markup("".join(parts))


def _empty() -> str:
    return (
        f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">'
        "nothing measured in this range</text>"
    )
