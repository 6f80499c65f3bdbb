"""Feature sources: where an app's inputs are looked up by entity id (SQL, Redis, Feast).

Adapters at the edge; :mod:`doorstep.services.decide.features` merges what they find under the
values a request carries. Built from the spec's ``features`` section by :func:`open_source`.
"""

from doorstep.sources.base import FeatureRow, FeatureSource, ScanSource, open_source

__all__ = ["FeatureRow", "FeatureSource", "ScanSource", "open_source"]
