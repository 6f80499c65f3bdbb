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

``doorstep.sources``
    Feature sources (SQL, Redis, Feast, ...), where inputs are looked up by entity id. Each entry
    point names a class implementing :class:`doorstep.sources.base.SourceFactory` (a
    ``from_spec`` class method building a :class:`doorstep.sources.base.FeatureSource`); the
    entry point's name is the ``type`` of a ``features:`` entry in a spec. :func:`open_source`
    builds one; a source with ``probe()`` (:class:`doorstep.sources.base.ProbedSource`) is
    checked by ``validate`` and at ``serve``'s start-up, and
    :func:`doorstep.testing.check_feature_source` is its conformance suite. Example::

        [project.entry-points."doorstep.sources"]
        bigtable = "doorstep_bigtable:BigtableFeatureSource"

``doorstep.streams``
    Stream sources (NATS JetStream, Redis Streams, RabbitMQ, MQTT, ...), message buses whose
    events ``doorstep consume`` decides. Each entry point names a class implementing
    :class:`doorstep.streams.base.StreamSourceFactory` (``type``, ``spec_model``, a
    ``from_spec`` class method building a :class:`doorstep.streams.base.StreamSource`: ``fetch``,
    ``ack``, ``dead_letter``, ``lag``, ``close``); the entry point's name is the ``type`` of a
    stream's ``source`` in a spec. :func:`open_stream` builds one. A Kafka source fits the
    interface (offsets committed on ``ack``; see :mod:`doorstep.streams.base`). Example::

        [project.entry-points."doorstep.streams"]
        kafka = "doorstep_kafka:KafkaStreamSource"
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import polars as pl

from doorstep.connectors.base import ConnectorFactory
from doorstep.core.ports import Model, ModelAdapter, Task
from doorstep.core.suggest import did_you_mean
from doorstep.errors import ModelError, PluginError
from doorstep.sources.base import FeatureSource, SourceFactory
from doorstep.streams.base import StreamSource, StreamSourceFactory

__all__ = [
    "AUTO_ORDER",
    "CONNECTORS_GROUP",
    "MODELS_GROUP",
    "SOURCES_GROUP",
    "STREAMS_GROUP",
    "connector_factory",
    "connector_types",
    "load_model",
    "model_adapters",
    "model_kinds",
    "open_source",
    "source_factory",
    "source_types",
    "open_stream",
    "stream_factory",
    "stream_types",
]

MODELS_GROUP = "doorstep.models"
"""Entry-point group of model adapters."""

CONNECTORS_GROUP = "doorstep.connectors"
"""Entry-point group of delivery connectors."""

SOURCES_GROUP = "doorstep.sources"
"""Entry-point group of feature sources."""

STREAMS_GROUP = "doorstep.streams"
"""Entry-point group of stream sources."""

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
        raise PluginError(
            f"Unknown model kind {kind!r}{did_you_mean(kind, ['auto', *kinds])}. "
            f"Installed kinds: auto, {', '.join(kinds)}. "
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
    factory: type[ConnectorFactory] = _registered_class(
        CONNECTORS_GROUP, _connector_entry_points(), type_, noun="connector", where=where
    )
    return factory


@cache
def _source_entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=SOURCES_GROUP)}


def source_types() -> list[str]:
    """Names (spec ``type``) of the installed feature sources, sorted."""
    return sorted(_source_entry_points())


def source_factory(type_: str, *, source: str | None = None) -> type[SourceFactory]:
    """The class registered for feature source ``type_`` (``source``, the spec's name for it, is
    only used in error messages). Raises :class:`PluginError` for a type without an entry point
    or one that cannot be imported."""
    where = f" (source {source!r})" if source else ""
    factory: type[SourceFactory] = _registered_class(
        SOURCES_GROUP, _source_entry_points(), type_, noun="feature source", where=where
    )
    return factory


def open_source(
    name: str, spec: Any, *, id_field: str, fields: list[str], base_dir: Path
) -> FeatureSource:
    """The feature source of the spec's ``features`` entry ``name`` (no connection is made yet),
    built by the class registered for its ``type``."""
    factory = source_factory(spec.type, source=name)
    return factory.from_spec(name, spec, id_field=id_field, fields=fields, base_dir=base_dir)


@cache
def _stream_entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=STREAMS_GROUP)}


def stream_types() -> list[str]:
    """Names (spec ``source.type``) of the installed stream sources, sorted."""
    return sorted(_stream_entry_points())


def stream_factory(type_: str, *, stream: str | None = None) -> type[StreamSourceFactory]:
    """The class registered for stream source ``type_`` (``stream``, the spec's name for the
    stream, is only used in error messages). Raises :class:`PluginError` for a type without an
    entry point or one that cannot be imported."""
    where = f" (stream {stream!r})" if stream else ""
    factory: type[StreamSourceFactory] = _registered_class(
        STREAMS_GROUP, _stream_entry_points(), type_, noun="stream source", where=where
    )
    return factory


def open_stream(name: str, spec: Any) -> StreamSource:
    """Connect to the bus of the spec's ``streams`` entry ``name`` (a :class:`StreamSpec`),
    through the class registered for its ``source.type``; its ``spec_model`` checks the
    source's settings first (a plugin's arrive unchecked)."""
    factory = stream_factory(spec.source.type, stream=name)
    source = spec.source
    model = getattr(factory, "spec_model", None)
    if model is not None and not isinstance(source, model):
        source = model.model_validate(source.model_dump(by_alias=True))
    return factory.from_spec(name, source, dead_letter=spec.dead_letter, batch=spec.batch)


def _registered_class(
    group: str, installed: dict[str, EntryPoint], type_: str, *, noun: str, where: str
) -> Any:
    """Load the class entry point ``type_`` of ``group``; it must have a ``from_spec``."""
    entry = installed.get(type_)
    if entry is None:
        names = sorted(installed)
        raise PluginError(
            f"No {noun} of type {type_!r} is installed{where}{did_you_mean(type_, names)}. "
            f"Installed types: {', '.join(names) or 'none'}. Other types come from plugins "
            f"registering the {group!r} entry point."
        )
    try:
        factory = entry.load()
    except Exception as exc:
        raise PluginError(
            f"The {type_!r} {noun}{where} ({entry.value}) cannot be loaded: "
            f"{type(exc).__name__}: {exc}. Reinstall doorstep or the plugin that provides it."
        ) from exc
    if not (isinstance(factory, type) and callable(getattr(factory, "from_spec", None))):
        raise PluginError(
            f"The entry point {type_!r} = {entry.value!r} in group {group!r} must name "
            f"a class with a 'from_spec' class method; got {factory!r}."
        )
    return factory
