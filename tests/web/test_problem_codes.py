"""Every code a problem can carry is documented in docs/api.md: in the table of statuses and as
the section its ``type`` URI points at (``.../docs/api.md#<code>``)."""

from __future__ import annotations

import re

from tests.paths import ROOT

from doorstep.errors import DoorstepError
from doorstep.web import problems


def subclasses(cls: type[DoorstepError]) -> list[type[DoorstepError]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *subclasses(sub)]
    return found


def answered_codes() -> set[str]:
    """The codes of every error the API answers with a status of its own (not 500)."""
    codes = set()
    for cls in subclasses(DoorstepError):
        if any(base in problems.STATUS_BY_ERROR for base in cls.__mro__):
            codes.add(cls.code)
    return codes | {"method_not_allowed", "not_found", "internal_error"}


def test_every_problem_code_is_documented_with_its_own_section() -> None:
    page = (ROOT / "docs" / "api.md").read_text()
    tabled = set(re.findall(r"^\| \d{3} \| `([a-z_]+)` \|", page, flags=re.M))
    sections = set(re.findall(r"^### `([a-z_]+)`$", page, flags=re.M))
    codes = answered_codes()
    assert len(codes) >= 12
    assert codes - tabled == set(), "missing from the status table of docs/api.md"
    assert codes - sections == set(), "missing a '### `code`' section in docs/api.md"
