"""Complete, runnable example apps written by ``doorstep init --example NAME``."""

from __future__ import annotations

__all__ = ["EXAMPLES"]

EXAMPLES = {"churn": "Retention offers for subscription customers likely to cancel"}
