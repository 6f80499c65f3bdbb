"""The public API is curated: what ``doorstep.__all__`` lists exists, and nothing else leaks."""

from __future__ import annotations

import doorstep

EXPECTED = {
    "__version__",
    "Contributions",
    "Decision",
    "DecisionBatch",
    "LoadedApp",
    "Model",
    "ModelMetadata",
    "Reason",
    "ScoreSummary",
    "Spec",
    "decide_batch",
    "load_app",
    "load_model",
    "parse_spec",
    "score_file",
}


def test_all_is_the_curated_list() -> None:
    assert set(doorstep.__all__) == EXPECTED


def test_every_exported_name_resolves() -> None:
    for name in doorstep.__all__:
        assert getattr(doorstep, name) is not None, name


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        doorstep.nothing_here  # noqa: B018
    except AttributeError as exc:
        assert "nothing_here" in str(exc)
    else:
        raise AssertionError("expected AttributeError")
