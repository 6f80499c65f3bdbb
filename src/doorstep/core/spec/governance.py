"""The spec's ``governance``: who owns the app, who may approve a new champion, how many
approvals a promotion needs, and how often the model must be revalidated. Pure models: the
rules are applied by :mod:`doorstep.services.rollout.stages`.

Without the block, the app's ``app.owner`` is its only owner, any key of role ``owner`` or
``admin`` may approve, and one approval (by a key other than the requester's) promotes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from doorstep.core.outcomes import parse_duration

__all__ = ["GovernanceSpec"]


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, use_attribute_docstrings=True
    )


class GovernanceSpec(_Strict):
    owners: list[str] = []
    """People accountable for the app besides ``app.owner`` (names or e-mail addresses, as
    their API keys are named); they may approve promotions."""
    approvers: list[str] = []
    """Names of the API keys (of role ``owner`` or ``admin``) that may approve a promotion,
    besides the owners; empty: any key of role ``owner`` or ``admin``."""
    approvals: Annotated[int, Field(ge=1, le=5)] = 1
    """Approvals a promotion to champion needs, each by a key other than the requester's
    (four eyes: 1; six eyes: 2)."""
    revalidate_every: str | None = None
    """How long a champion may serve before it must be revalidated, as a duration (``90d``);
    ``doorstep models list`` flags a champion older than this as overdue."""

    @field_validator("revalidate_every")
    @classmethod
    def _check_every(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_duration(value)
            except ValueError:
                raise ValueError("expected a duration such as 90d, 12w or 2160h") from None
        return value

    @property
    def revalidation(self) -> timedelta | None:
        return None if self.revalidate_every is None else parse_duration(self.revalidate_every)
