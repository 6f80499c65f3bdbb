"""The retry schedule of a connector (``connectors.<name>.retry``): shared by every connector
type, built-in or bus."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["STANDARD_WEBHOOKS_DELAYS", "RetrySpec", "Seconds"]

Seconds = Annotated[float, Field(ge=0)]

STANDARD_WEBHOOKS_DELAYS: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
"""Seconds before each retry: the Standard Webhooks schedule (5 s, 5 min, 30 min, 2 h, 5 h,
10 h, 10 h), so a delivery is attempted 8 times over about 27 hours before it is ``dead``."""


class RetrySpec(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, use_attribute_docstrings=True
    )

    delays: list[Seconds] = list(STANDARD_WEBHOOKS_DELAYS)
    """Seconds to wait before each retry; one attempt more than delays are listed. ``[]`` tries
    once."""
    jitter: Annotated[float, Field(ge=0, le=1)] = 0.2
    """Each delay is drawn uniformly from ``delay * (1 - jitter)`` to ``delay * (1 + jitter)``,
    so receivers that failed together are not retried together."""
