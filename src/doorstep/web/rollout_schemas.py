"""Pydantic models that document the backtest and compare routes in OpenAPI (the answers are
built as plain data by :mod:`doorstep.services.rollout`; these describe their shape, and
``tests/web/test_openapi_responses.py`` holds live answers to them). See ``docs/rollout.md``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from doorstep.web.monitoring_schemas import IntervalOut, QualityOut, RoiOut

__all__ = ["BacktestOut", "ComparisonOut"]


class ExpectedValueOut(BaseModel):
    """The measured uplift applied to the decisions a policy treats, by action."""

    treated: dict[str, int]
    value: IntervalOut
    cost: float
    note: str | None


class DifferenceOut(BaseModel):
    """The headline metric, challenger (or candidate) minus champion."""

    metric: Literal["auc", "mae", "accuracy"]
    difference: IntervalOut
    method: str
    """``paired DeLong``, ``unpaired DeLong``, ``paired mean difference`` or ``Welch
    difference``."""
    higher_is_better: bool


class BacktestSideOut(BaseModel):
    versions: dict[str, int]
    actions: dict[str, int]
    acting: int
    review: int
    control: int
    quality: QualityOut | None
    expected_value: ExpectedValueOut | None


class TransitionOut(BaseModel):
    champion: str
    candidate: str
    decisions: int


class FlipSideOut(BaseModel):
    action: str
    score: float
    reasons: list[str]


class FlipOut(BaseModel):
    decision_id: str
    entity_id: str
    created_at: str
    champion: FlipSideOut
    candidate: FlipSideOut


class BacktestOut(BaseModel):
    app: str
    candidate_version: str
    since: str | None
    until: str | None
    decisions: int
    not_replayed: int
    not_replayed_examples: list[str]
    flips: int
    flip_rate: float | None
    transitions: list[TransitionOut]
    champion: BacktestSideOut
    candidate: BacktestSideOut
    labelled: int
    difference: DifferenceOut | None
    verdict: str
    sample: list[FlipOut]


class VersionWindowOut(BaseModel):
    start: str
    end: str
    quality: QualityOut


class VersionSideOut(BaseModel):
    version: str
    role: Literal["champion", "canary", "shadow"]
    decisions: int
    acting: int
    reviewed: int
    overridden: int
    override_rate: float | None
    labelled: int
    quality: QualityOut | None
    windows: list[VersionWindowOut]
    roi: RoiOut | None
    expected_value: ExpectedValueOut | None


class ComparisonOut(BaseModel):
    app: str
    window: Literal["hour", "day", "week"]
    since: str
    until: str
    mode: Literal["canary", "shadow"] | None
    champion: VersionSideOut
    challenger: VersionSideOut | None
    others: list[str]
    difference: DifferenceOut | None
    verdict: str
