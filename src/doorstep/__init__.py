"""doorstep: carry a trained model the last mile, to explained decisions people act on.

The public API is what ``__all__`` lists; everything else is private and may change. Names are
imported lazily, so ``import doorstep`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version
from typing import TYPE_CHECKING, Any

try:
    __version__ = _version("doorstep")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

_EXPORTS = {
    "Contributions": "doorstep.core.ports",
    "Decision": "doorstep.types",
    "DecisionBatch": "doorstep.services.decide.batch",
    "LoadedApp": "doorstep.services.apps.loading",
    "Model": "doorstep.core.ports",
    "ModelMetadata": "doorstep.core.ports",
    "Reason": "doorstep.types",
    "ScoreSummary": "doorstep.services.runs.files",
    "Spec": "doorstep.core.spec.models",
    "decide_batch": "doorstep.services.decide.batch",
    "load_app": "doorstep.services.apps.loading",
    "load_model": "doorstep.plugins",
    "parse_spec": "doorstep.core.spec.loader",
    "score_file": "doorstep.services.runs.files",
}

__all__ = [
    "Contributions",
    "Decision",
    "DecisionBatch",
    "LoadedApp",
    "Model",
    "ModelMetadata",
    "Reason",
    "ScoreSummary",
    "Spec",
    "__version__",
    "decide_batch",
    "load_app",
    "load_model",
    "parse_spec",
    "score_file",
]

if TYPE_CHECKING:
    from doorstep.core.ports import Contributions, Model, ModelMetadata
    from doorstep.core.spec.loader import parse_spec
    from doorstep.core.spec.models import Spec
    from doorstep.plugins import load_model
    from doorstep.services.apps.loading import LoadedApp, load_app
    from doorstep.services.decide.batch import DecisionBatch, decide_batch
    from doorstep.services.runs.files import ScoreSummary, score_file
    from doorstep.types import Decision, Reason


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'doorstep' has no attribute {name!r}")
