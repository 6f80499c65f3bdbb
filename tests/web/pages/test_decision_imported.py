"""The decision page tells history from live decisions: an imported decision's lineage says
where it came from (a file's row, or the API with its decision time)."""

from __future__ import annotations

from doorstep.web.pages.decision import lineage_view


def test_an_imported_decision_says_where_it_came_from() -> None:
    lineage = {
        "request": ["plan"],
        "sources": {},
        "file": {"name": "last-quarter.parquet", "row": 17},
        "imported": {"run": "r-1", "key": "K-17"},
    }
    view = lineage_view(lineage, {"plan": "Plan"})
    assert view is not None and view["request"] == ["Plan"]
    assert view["imported"] == "imported from last-quarter.parquet, row 17"
    api = lineage_view({"request": [], "sources": {}, "imported": {"api": "key:ops"}}, {})
    assert api is not None and "through the API by key:ops" in api["imported"]


def test_a_live_decision_is_not_marked() -> None:
    view = lineage_view({"request": ["plan"], "sources": {}}, {})
    assert view is not None and view["imported"] is None
