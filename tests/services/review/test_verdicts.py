"""Verdicts: one limit on the reason for every way a verdict arrives (API, pages), enforced by
the service itself."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from tests.store.factories import decision

from doorstep.errors import RecordsInvalidError
from doorstep.services.apps.loading import load_app
from doorstep.services.apps.registry import Registry
from doorstep.services.review.verdicts import REASON_MAX_LENGTH, review_decision
from doorstep.store import RecordRequest, Store


def test_a_reason_longer_than_the_limit_is_refused_and_changes_nothing(
    churn_app: Path, store: Store
) -> None:
    app = load_app(churn_app / "doorstep.yaml")
    registry = Registry({app.name: app})
    case = decision(1, status="pending_review")
    store.record([RecordRequest([case])], actor="t")
    too_long = "x" * (REASON_MAX_LENGTH + 1)
    attempts: list[tuple[Literal["approve", "override"], str | None]] = [
        ("approve", None),
        ("override", "none"),
    ]
    for verdict, action in attempts:
        with pytest.raises(RecordsInvalidError, match="at most 2,000 characters") as refused:
            review_decision(
                registry, store, case.id, verdict=verdict, reason=too_long, actor="rev",
                action=action,
            )  # fmt: skip
        [error] = refused.value.errors
        assert (error.field, error.rule) == ("reason", "max")
    assert store.get_review(case.id) is None
    longest = " " + "y" * REASON_MAX_LENGTH + " "  # the limit counts the reason kept (stripped)
    review_decision(registry, store, case.id, verdict="approve", reason=longest, actor="rev")
    review = store.get_review(case.id)
    assert review is not None and review.reason == longest.strip()
