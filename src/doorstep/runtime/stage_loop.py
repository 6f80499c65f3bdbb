"""Model stages followed inside ``doorstep serve``: a background thread polls the store's stage
generation and switches the served versions when it moves (see
:mod:`doorstep.services.rollout.serving` for the bound on how long a switch takes)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

from doorstep.runtime.threads import background
from doorstep.services.rollout.serving import LiveApps
from doorstep.store.protocols import ModelVersionStore

__all__ = ["following_stages"]


@contextmanager
def following_stages(live: LiveApps, store: ModelVersionStore, *, seconds: float) -> Iterator[None]:
    """Poll every ``seconds`` while the block runs (``0``: never; the stages read at start
    stay)."""
    if seconds <= 0:
        yield
        return
    loop = partial(live.poll, store, seconds=seconds)
    with background(loop, name="doorstep-stages", join_seconds=10.0, late="it stops with serve"):
        yield
