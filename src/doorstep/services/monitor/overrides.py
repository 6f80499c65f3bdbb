"""Human overrides in the monitoring report: how often reviewers override the policy, per
window and over the range, and, once outcomes are known, how often they were right."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from doorstep.core.stats.intervals import wilson
from doorstep.store.feedback import FeedbackCounts, WindowCounts
from doorstep.types.monitoring import OverrideJudgement, Overrides, OverrideWindow

__all__ = ["OverridesAccumulator"]


class OverridesAccumulator:
    """How often reviewers override, and, once outcomes are known, how often they were right.

    An override is judged when it flips whether anything is done (an action to ``none``, or
    ``none`` to an action): the reviewer was right when acting matches a positive outcome."""

    def __init__(self) -> None:
        self.judged = 0
        self.right = 0
        self.windows: dict[int, tuple[int, int]] = {}
        """Judged and right overrides by window index."""

    def add(self, frame: pl.DataFrame) -> None:
        flipped = frame.filter(
            (pl.col("status") == "overridden")
            & ((pl.col("action") != "none") != (pl.col("taken") != "none"))
        )
        if flipped.height == 0:
            return
        correct = (flipped["taken"] != "none") == flipped["positive"]
        self.judged += flipped.height
        self.right += int(correct.sum())
        by_window = flipped.select("window", correct.alias("right")).group_by("window")
        for index, judged, right in by_window.agg(pl.len(), pl.col("right").sum()).iter_rows():
            before = self.windows.get(index, (0, 0))
            self.windows[index] = (before[0] + judged, before[1] + right)

    def result(
        self,
        counts: FeedbackCounts,
        per_window: list[WindowCounts],
        bounds: list[tuple[datetime, datetime]],
        *,
        binary: bool,
    ) -> Overrides:
        reviews: dict[int, list[int]] = {}
        for row in per_window:
            sums = reviews.setdefault(row.window, [0, 0, 0])
            sums[0] += row.reviewed
            sums[1] += row.overridden
            sums[2] += row.pending_review
        windows = []
        for index, (start, end) in enumerate(bounds):
            reviewed, overridden, pending = reviews.get(index, (0, 0, 0))
            judged, right = self.windows.get(index, (0, 0))
            windows.append(
                OverrideWindow(
                    start=start,
                    end=end,
                    reviewed=reviewed,
                    overridden=overridden,
                    pending_review=pending,
                    override_rate=wilson(overridden, reviewed),
                    judgement=_judgement(judged, right) if binary else None,
                )
            )
        return Overrides(
            reviewed=counts.reviewed,
            overridden=counts.overridden,
            pending_review=counts.pending_review,
            override_rate=wilson(counts.overridden, counts.reviewed),
            judgement=_judgement(self.judged, self.right) if binary else None,
            windows=tuple(windows),
        )


def _judgement(judged: int, right: int) -> OverrideJudgement:
    return OverrideJudgement(judged=judged, right=right, right_rate=wilson(right, judged))
