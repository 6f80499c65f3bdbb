"""Spelling suggestions for error messages: ``unknown column 'scroe' (did you mean 'score'?)``."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["closest", "did_you_mean"]


def closest(name: str, candidates: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The candidate nearest to ``name`` (difflib ratio, ties broken case-insensitively), or None.

    An exact case-insensitive match wins over any other candidate, so ``Score`` suggests
    ``score`` even when a longer, similar name exists.
    """
    pool = [c for c in dict.fromkeys(candidates) if c != name]
    if not pool:
        return None
    folded = name.casefold()
    for candidate in pool:
        if candidate.casefold() == folded:
            return candidate
    lowered = {c.casefold(): c for c in pool}
    matches = difflib.get_close_matches(folded, list(lowered), n=1, cutoff=cutoff)
    return lowered[matches[0]] if matches else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """``" (did you mean 'score'?)"`` when a candidate is close to ``name``, else ``""``.

    Meant to be appended to a message: ``f"unknown column {name!r}{did_you_mean(name, cols)}"``.
    """
    match = closest(name, candidates)
    return f" (did you mean {match!r}?)" if match is not None else ""
