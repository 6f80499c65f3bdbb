"""The source of a batch run by hand: a SQL source of the spec, or a URL and a query."""

from __future__ import annotations

from typing import Any

from doorstep.core.spec.sources import SQLSourceSpec
from doorstep.core.suggest import did_you_mean
from doorstep.errors import InputError
from doorstep.sources.sql import SQLFeatureSource

__all__ = ["open_scan"]


def open_scan(app: Any, source: str | None, url: str | None, query: str | None) -> SQLFeatureSource:
    """``source`` names a ``sql`` source of the app's ``features``; else ``url`` and ``query``
    (a SELECT of the entity id and input fields under their own names) make one."""
    spec = app.spec
    fields = list(spec.inputs.fields)
    if source is not None:
        chosen = spec.features.get(source)
        if not isinstance(chosen, SQLSourceSpec) or not chosen.scannable:
            names = [n for n, s in spec.features.items() if isinstance(s, SQLSourceSpec)]
            raise InputError(
                f"--from {source!r}{did_you_mean(source, names)}: not a SQL source of the spec "
                "that can list its entities "
                f"(declared SQL sources: {', '.join(names) or 'none'}); give --url and --query "
                "instead"
            )
        return SQLFeatureSource(
            source, chosen, id_field=spec.inputs.id, fields=fields, base_dir=app.root
        )
    if url is None or query is None:
        raise InputError("give --from SOURCE, or --url and --query")
    adhoc = SQLSourceSpec.model_construct(
        type="sql", url=url, scan_query=query, timeout=60.0, pool_size=1
    )
    return SQLFeatureSource(
        "query", adhoc, id_field=spec.inputs.id, fields=fields, base_dir=app.root
    )
