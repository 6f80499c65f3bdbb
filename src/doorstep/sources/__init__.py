"""Feature sources: where an app's inputs are looked up by entity id (SQL, Redis, Feast).

Adapters at the edge; :mod:`doorstep.services.decide.features` merges what they find under the
values a request carries. Each is registered under the ``doorstep.sources`` entry point group and
built from an entry of the spec's ``features`` section by :func:`doorstep.plugins.open_source`.
Entity ids are checked once, before any source is asked (:mod:`doorstep.sources.ids`).
"""

from doorstep.sources.base import (
    FeatureRow,
    FeatureSource,
    ProbedSource,
    ScanSource,
    SourceFactory,
)

__all__ = ["FeatureRow", "FeatureSource", "ProbedSource", "ScanSource", "SourceFactory"]
