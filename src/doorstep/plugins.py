"""The extension points of doorstep, declared in one place.

Third parties extend doorstep through Python entry points. The built-in implementations are
registered the very same way (in doorstep's own ``pyproject.toml``), so a plugin is a peer of the
built-ins, not a special case. Entry points are read lazily: nothing here imports a model
library until a model of that kind is loaded.

Groups
------

``doorstep.models``
    Model adapters. Each entry point names a class implementing
    :class:`doorstep.core.ports.Model` (``can_load``, ``load``, ``metadata``, ``predict``,
    ``contributions``); the entry point's name is the ``model.kind`` a spec uses. Check an
    adapter with :func:`doorstep.testing.check_model_adapter`. Example, in a plugin's
    ``pyproject.toml``::

        [project.entry-points."doorstep.models"]
        catboost = "doorstep_catboost:CatBoostModel"

``doorstep.connectors``
    Delivery connectors (webhook, SQL, e-mail, chat, file, ...). Each entry point names a class
    implementing :class:`doorstep.connectors.base.ConnectorFactory` (``type``, ``spec_model``,
    ``from_spec``); the entry point's name is the ``type`` of a ``connectors:`` entry in a spec.
    :func:`connector_factory` loads one. Example::

        [project.entry-points."doorstep.connectors"]
        teams = "doorstep_teams:TeamsConnector"
"""

from __future__ import annotations

import difflib
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import polars as pl

from doorstep.connectors.base import ConnectorFactory
from doorstep.core.ports import Model, ModelAdapter, Task
from doorstep.errors import ModelError, PluginError

__all__ = [
    "AUTO_ORDER",
    "CONNECTORS_GROUP",
    "MODELS_GROUP",
    "connector_factory",
    "connector_types",
    "load_model",
    "model_adapters",
    "model_kinds",
]

MODELS_GROUP = "doorstep.models"
"""Entry-point group of model adapters."""

CONNECTORS_GROUP = "doorstep.connectors"
"""Entry-point group of delivery connectors."""

AUTO_ORDER = ("mlflow", "onnx", "xgboost", "lightgbm", "sklearn")
"""Order in which ``kind: auto`` asks the built-in adapters whether they recognise a path;
third-party adapters are asked afterwards, in name order."""

_EXTRAS = {"xgboost": "xgboost", "onnx": "onnx", "mlflow": "mlflow"}


@cache
def _model_entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=MODELS_GROUP)}


def model_kinds() -> list[str]:
    """Names of the installed model adapters, in ``kind: auto`` detection order."""
    names = _model_entry_points()
    return [k for k in AUTO_ORDER if k in names] + sorted(k for k in names if k not in AUTO_ORDER)


def _adapter(kind: str) -> type[ModelAdapter]:
    entry = _model_entry_points()[kind]
    try:
        adapter = entry.load()
    except ImportError as exc:
        extra = _EXTRAS.get(kind)
        fix = f"pip install 'doorstep[{extra}]'" if extra else f"reinstall the plugin {entry.value}"
        raise ModelError(
            f"The {kind!r} model adapter cannot be imported ({exc}). Install it with: {fix}"
        ) from exc
    except Exception as exc:
        raise PluginError(
            f"The model adapter {kind!r} ({entry.value}) failed to load: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if not (
        isinstance(adapter, type) and hasattr(adapter, "load") and hasattr(adapter, "can_load")
    ):
        raise PluginError(
            f"The entry point {kind!r} = {entry.value!r} in group {MODELS_GROUP!r} must name a "
            f"class with 'can_load' and 'load' class methods; got {adapter!r}."
        )
    return adapter


def model_adapters() -> dict[str, type[ModelAdapter]]:
    """Every installed model adapter by kind (imports each adapter module, not its library)."""
    return {kind: _adapter(kind) for kind in model_kinds()}


def load_model(
    path: Path,
    *,
    kind: str = "auto",
    task: Task,
    positive_class: str | None = None,
    reference: pl.DataFrame | None = None,
) -> Model:
    """Load a model file or folder with the adapter ``kind`` (``auto``: detected from content).

    Raises :class:`ModelError` for a missing or unrecognised file and for an adapter whose library
    is not installed (naming the extra to install), :class:`PluginError` for an unknown kind.
    """
    path = Path(path)
    if not path.exists():
        raise ModelError(
            f"The model path {path} does not exist. Check 'model.path' in the spec; relative "
            "paths are resolved against the spec file's folder."
        )
    kinds = model_kinds()
    if kind == "auto":
        for candidate in kinds:
            adapter = _adapter(candidate)
            if adapter.can_load(path):
                return adapter.load(
                    path, task=task, positive_class=positive_class, reference=reference
                )
        raise ModelError(
            f"{path} is not a model file doorstep recognises (tried {', '.join(kinds)}). "
            "Expected a LightGBM text model, an XGBoost .json/.ubj model, a joblib file, an "
            ".onnx file or an MLflow model folder; set 'model.kind' if the file is one of them."
        )
    if kind not in kinds:
        close = difflib.get_close_matches(kind, kinds, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise PluginError(
            f"Unknown model kind {kind!r}{hint}. Installed kinds: auto, {', '.join(kinds)}. "
            f"Other kinds come from plugins registering the {MODELS_GROUP!r} entry point."
        )
    return _adapter(kind).load(path, task=task, positive_class=positive_class, reference=reference)


@cache
def _connector_entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=CONNECTORS_GROUP)}


def connector_types() -> list[str]:
    """Names (spec ``type``) of the installed connectors, sorted."""
    return sorted(_connector_entry_points())


def connector_factory(type_: str, *, connector: str | None = None) -> type[ConnectorFactory]:
    """The class registered for connector ``type_`` (``connector``, the spec's name for it, is
    only used in error messages). Raises :class:`PluginError` for a type without an entry point
    or one that cannot be imported."""
    where = f" (connector {connector!r})" if connector else ""
    installed = connector_types()
    entry = _connector_entry_points().get(type_)
    if entry is None:
        close = difflib.get_close_matches(type_, installed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise PluginError(
            f"No connector of type {type_!r} is installed{where}{hint}. Installed types: "
            f"{', '.join(installed) or 'none'}. Other types come from plugins registering the "
            f"{CONNECTORS_GROUP!r} entry point."
        )
    try:
        factory = entry.load()
    except Exception as exc:
        raise PluginError(
            f"The {type_!r} connector{where} ({entry.value}) cannot be loaded: "
            f"{type(exc).__name__}: {exc}. Reinstall doorstep or the plugin that provides it."
        ) from exc
    if not (isinstance(factory, type) and callable(getattr(factory, "from_spec", None))):
        raise PluginError(
            f"The entry point {type_!r} = {entry.value!r} in group {CONNECTORS_GROUP!r} must name "
            f"a class with a 'from_spec' class method; got {factory!r}."
        )
    return factory
