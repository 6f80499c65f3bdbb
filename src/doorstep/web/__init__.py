"""The HTTP API of the decision service (FastAPI)."""

from doorstep.web.app import create_app
from doorstep.web.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]
