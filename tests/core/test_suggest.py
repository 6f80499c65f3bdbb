"""did_you_mean: the one wording of spelling suggestions."""

import pytest

from doorstep.core.suggest import closest, did_you_mean


@pytest.mark.parametrize(
    ("name", "candidates", "expected"),
    [
        ("scroe", ["score", "plan"], " (did you mean 'score'?)"),
        ("Score", ["score", "scores"], " (did you mean 'score'?)"),
        ("premum", ["basic", "plus", "premium"], " (did you mean 'premium'?)"),
        ("zzz", ["score", "plan"], ""),
        ("score", [], ""),
        ("score", ["score"], ""),  # the name itself is never suggested
    ],
)
def test_did_you_mean(name: str, candidates: list[str], expected: str) -> None:
    assert did_you_mean(name, candidates) == expected


def test_closest_accepts_any_iterable() -> None:
    assert closest("tenure_month", iter(["tenure_months", "plan"])) == "tenure_months"
    assert closest("x", {"a": 1}) is None
