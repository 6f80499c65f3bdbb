"""Which version decides an entity: the canary takes the entities whose stable position for
``(app, "canary")`` falls under its share.

The position is :func:`doorstep.core.policy.control_values` of the entity id under another key
(the app's name joined to ``canary``), so it is the same in every process and platform, one
customer always meets one version while the share stays, a larger share keeps every entity the
smaller one had, and membership is independent of the control group's: the control group stays
a random sample of the champion's and the canary's entities alike.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl

from doorstep.core.policy import control_values

__all__ = ["canary_key", "in_canary"]


def canary_key(app: str) -> str:
    """The hash key of ``app``'s canary (a name no app can have: names have no ``/``)."""
    return f"{app}/canary"


def in_canary(app: str, entity_ids: pl.Series, share: float) -> npt.NDArray[np.bool_]:
    """For each entity id, whether the canary of ``share`` (in [0, 1]) decides it (a null id:
    never)."""
    if share <= 0 or entity_ids.len() == 0:
        return np.zeros(entity_ids.len(), dtype=np.bool_)
    return control_values(canary_key(app), entity_ids) < share
