"""A Feast feature source: ``get_online_features`` for all the ids of a lookup in one call,
from the repository's online store (an optional extra: ``pip install 'doorstep[feast]'``).

An entity Feast knows nothing of comes back with every feature missing: it counts as not found.
The age of a row is that of its oldest feature's event timestamp.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from doorstep.core.spec.sources import FeastSourceSpec, source_columns
from doorstep.errors import ConnectorSpecError, FeatureSourceUnavailableError
from doorstep.sources.base import FeatureRow, observed_time

__all__ = ["FeastFeatureSource"]


class FeastFeatureSource:
    kind = "feast"

    def __init__(
        self, name: str, spec: FeastSourceSpec, *, fields: list[str], base_dir: Path
    ) -> None:
        try:
            from feast import FeatureStore
        except ImportError:
            raise ConnectorSpecError(
                name, "type", "Feast is not installed: pip install 'doorstep[feast]'"
            ) from None
        self.name, self.spec, self.timeout = name, spec, spec.timeout
        self.columns = source_columns(spec, fields)
        self.fields = tuple(self.columns)
        repo = base_dir / spec.repo
        if not (repo / "feature_store.yaml").is_file():
            raise ConnectorSpecError(
                name, "repo", f"{repo} holds no feature_store.yaml (a Feast repository)"
            )
        self.store: Any = FeatureStore(repo_path=str(repo))
        self._features = list(dict.fromkeys(self.columns.values()))

    @classmethod
    def from_spec(
        cls, name: str, spec: Any, *, id_field: str, fields: list[str], base_dir: Path
    ) -> FeastFeatureSource:
        """The source of a ``type: feast`` entry of the spec's ``features``."""
        if not isinstance(spec, FeastSourceSpec):
            raise TypeError(
                "The 'spec' parameter of FeastFeatureSource.from_spec must be a FeastSourceSpec. "
                f"Got {type(spec).__name__} instead."
            )
        return cls(name, spec, fields=fields, base_dir=base_dir)

    def lookup(self, ids: Sequence[str]) -> dict[str, FeatureRow]:
        if not ids:
            return {}
        key = self.spec.entity
        rows = [{key: int(i) if self.spec.id_type == "int" else i} for i in ids]
        try:
            response = self.store.get_online_features(features=self._features, entity_rows=rows)
            data = response.to_dict(include_event_timestamps=True)
        except Exception as error:  # noqa: BLE001 - any failure of the online store
            raise FeatureSourceUnavailableError(
                self.name, f"feature source {self.name!r} (feast) failed: {error}; retry later"
            ) from None
        found: dict[str, FeatureRow] = {}
        for index, entity_id in enumerate(ids):
            values: dict[str, Any] = {}
            stamps: list[datetime] = []
            for field, feature in self.columns.items():
                short = feature.split(":", 1)[1]
                values[field] = _at(data, (feature, short), index)
                stamp = observed_time(_at(data, (f"{feature}__ts", f"{short}__ts"), index))
                if stamp is not None:
                    stamps.append(stamp)
            if all(v is None for v in values.values()):
                continue
            found[entity_id] = FeatureRow(values, min(stamps) if stamps else None)
        return found

    def probe(self) -> None:
        """Every feature of ``columns`` exists in the repository's registry (a missing view or
        feature can never work), and the online store answers a lookup of an id it cannot
        hold (unavailable when it does not)."""
        for field, feature in self.columns.items():
            view, name = feature.split(":", 1)
            try:
                features = self._view_features(view)
            except Exception as error:  # noqa: BLE001 - Feast's own "not found" errors
                if "not found" in str(error).lower() or "NotFound" in type(error).__name__:
                    raise ConnectorSpecError(
                        self.name,
                        "columns",
                        f"{field}: Feast has no feature view {view!r}; run 'feast apply' in "
                        f"{self.spec.repo}, or fix 'columns'",
                    ) from None
                raise FeatureSourceUnavailableError(
                    self.name, f"feature source {self.name!r} (feast): {error}"
                ) from None
            if name not in features:
                raise ConnectorSpecError(
                    self.name,
                    "columns",
                    f"{field}: the feature view {view!r} has no feature {name!r} (it has: "
                    f"{', '.join(sorted(features))})",
                )
        self.lookup(["0" if self.spec.id_type == "int" else "__doorstep_probe__"])

    def _view_features(self, view: str) -> set[str]:
        try:
            found = self.store.get_feature_view(view)
        except Exception:  # noqa: BLE001 - perhaps an on-demand view
            found = self.store.get_on_demand_feature_view(view)
        return {f.name for f in found.features}

    def close(self) -> None:
        pass


def _at(data: dict[str, list[Any]], names: tuple[str, ...], index: int) -> Any:
    for name in names:
        column = data.get(name)
        if column is not None:
            value = column[index]
            if isinstance(value, datetime) and value.tzinfo is None:
                return value.replace(tzinfo=UTC)
            return value
    return None
