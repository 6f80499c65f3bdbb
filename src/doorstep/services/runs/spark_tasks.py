"""What runs on Spark's executors: the app, loaded once per executor process from bytes the
driver broadcast, deciding each partition's Arrow batches through the one
:func:`~doorstep.services.decide.batch.decide_batch`.

Executors may not see the driver's disk, so the driver packs the spec, the model (file or
folder) and the reference sample into one archive (:func:`bundle_app`); each executor process
unpacks it once into a private temporary folder and loads the app from there with
:func:`~doorstep.services.apps.loading.load_app`, exactly as ``doorstep score`` does.
"""

from __future__ import annotations

import atexit
import hashlib
import io
import os
import re
import shutil
import tarfile
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from doorstep.core.contract import validate_batch
from doorstep.services.apps.loading import LoadedApp, load_app
from doorstep.services.decide.batch import decide_batch

__all__ = [
    "FILE_COLUMN",
    "INDEX_COLUMN",
    "AppBundle",
    "Numbering",
    "bundle_app",
    "decide_partition",
    "loaded_app",
    "reject_partition",
]

FILE_COLUMN = "__doorstep_file"
INDEX_COLUMN = "__doorstep_index"
"""Hidden input columns of a file dataset: each row's file and its 0-based index in the file."""

_ENV_NAME = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class AppBundle:
    """An app's files as bytes: what the driver broadcasts to the executors."""

    archive: bytes
    """An uncompressed tar of the spec, the model and the reference at their relative places."""
    spec: str
    """The spec's path inside the archive."""
    env: Mapping[str, str]
    """The driver's values of the environment variables the spec names (``${VAR}``)."""
    digest: str
    """SHA-256 of the archive: an executor process loads each bundle once."""


def bundle_app(app: LoadedApp, spec_path: Path) -> AppBundle:
    """Pack the files ``app`` was loaded from (spec, model, reference) into one archive."""
    spec_path = spec_path.resolve()
    paths = [spec_path, (app.root / app.spec.model.path).resolve()]
    if app.spec.reference is not None:
        paths.append((app.root / app.spec.reference.path).resolve())
    base = Path(os.path.commonpath([spec_path.parent, *paths]))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path in dict.fromkeys(paths):
            archive.add(path, arcname=path.relative_to(base).as_posix())
    data = buffer.getvalue()
    text = spec_path.read_text(encoding="utf-8")
    names = set(_ENV_NAME.findall(text))
    env = {name: os.environ[name] for name in sorted(names) if name in os.environ}
    return AppBundle(
        archive=data,
        spec=spec_path.relative_to(base).as_posix(),
        env=env,
        digest=hashlib.sha256(data).hexdigest(),
    )


@dataclass(frozen=True)
class Numbering:
    """Where each record's 1-based ``row`` comes from: the first row of each file (by path)
    when the input carries :data:`FILE_COLUMN` and :data:`INDEX_COLUMN`, else the first row
    of each Spark partition."""

    files: Mapping[str, int] | None
    partitions: Mapping[int, int]


_apps: dict[str, LoadedApp] = {}
_lock = threading.Lock()


def loaded_app(bundle: AppBundle) -> LoadedApp:
    """The bundle's app, unpacked and loaded on the first call in this process, then reused."""
    with _lock:
        app = _apps.get(bundle.digest)
        if app is None:
            folder = Path(tempfile.mkdtemp(prefix="doorstep-app-"))
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            with tarfile.open(fileobj=io.BytesIO(bundle.archive), mode="r") as archive:
                archive.extractall(folder, filter="data")
            app = load_app(folder / bundle.spec, env={**os.environ, **bundle.env})
            _apps[bundle.digest] = app
        return app


def decide_partition(
    bundle: AppBundle,
    numbering: Numbering,
    explain: bool | None,
    schema: pa.Schema,
    partition: int,
    batches: Iterator[pa.RecordBatch],
) -> Iterator[pa.RecordBatch]:
    """The decisions of one partition's batches, each record numbered as ``numbering`` says."""
    app = loaded_app(bundle)
    for batch in batches:
        parts = [
            decide_batch(app, frame, row_offset=offset, explain=explain).decisions
            for frame, offset in _numbered(batch, numbering, partition)
        ]
        if parts:
            yield _as_batch(pl.concat(parts) if len(parts) > 1 else parts[0], schema)
        numbering = _advanced(numbering, partition, batch.num_rows)


def reject_partition(
    bundle: AppBundle,
    numbering: Numbering,
    schema: pa.Schema,
    partition: int,
    batches: Iterator[pa.RecordBatch],
) -> Iterator[pa.RecordBatch]:
    """The rejects of one partition's batches: the input contract's check of
    :func:`decide_batch`, without scoring."""
    app = loaded_app(bundle)
    for batch in batches:
        for frame, offset in _numbered(batch, numbering, partition):
            checked = validate_batch(frame, app.spec.inputs, row_offset=offset)
            if checked.rejects.height:
                yield _as_batch(checked.rejects.sort("row"), schema)
        numbering = _advanced(numbering, partition, batch.num_rows)


def _numbered(
    batch: pa.RecordBatch, numbering: Numbering, partition: int
) -> Iterator[tuple[pl.DataFrame, int]]:
    """``batch`` in runs of consecutive records, each with the 0-based number of its first."""
    if numbering.files is None:
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        yield frame, numbering.partitions.get(partition, 0)
        return
    files = batch.column(FILE_COLUMN).dictionary_encode()
    starts = np.array([numbering.files[f] for f in files.dictionary.to_pylist()], dtype=np.int64)
    index = batch.column(INDEX_COLUMN).to_numpy(zero_copy_only=False).astype(np.int64)
    rows = starts[pc.fill_null(files.indices, 0).to_numpy()] + index
    frame = pl.from_arrow(batch.drop_columns([FILE_COLUMN, INDEX_COLUMN]))
    assert isinstance(frame, pl.DataFrame)
    bounds = [0, *(np.flatnonzero(np.diff(rows) != 1) + 1).tolist(), len(rows)]
    for begin, end in zip(bounds, bounds[1:], strict=False):
        if end > begin:
            yield frame.slice(begin, end - begin), int(rows[begin])


def _advanced(numbering: Numbering, partition: int, rows: int) -> Numbering:
    """``numbering`` after ``rows`` more records of ``partition`` (partition numbering only)."""
    if numbering.files is not None:
        return numbering
    partitions = dict(numbering.partitions)
    partitions[partition] = partitions.get(partition, 0) + rows
    return Numbering(None, partitions)


def _as_batch(frame: pl.DataFrame, schema: pa.Schema) -> pa.RecordBatch:
    """``frame`` in the Arrow types Spark expects (plain strings and lists, not large ones)."""
    table = frame.select(schema.names).to_arrow().cast(schema).combine_chunks()
    batches = table.to_batches()
    return batches[0] if batches else pa.RecordBatch.from_pylist([], schema=schema)
