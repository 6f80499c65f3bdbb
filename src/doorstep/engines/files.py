"""Read and write record files in chunks: CSV, Parquet and JSON Lines, in constant memory.

Readers yield :class:`polars.DataFrame` chunks of at most ``chunk_rows`` rows and know (or
estimate) the total row count for progress bars. CSV and JSON Lines values arrive as text where
types are mixed, and the input contract types them, so one bad value rejects one record instead
of failing the whole file.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from doorstep.core.suggest import did_you_mean
from doorstep.errors import InputError

__all__ = [
    "FileFormat",
    "RecordReader",
    "RecordWriter",
    "detect_format",
    "read_sample",
]

FileFormat = Literal["csv", "parquet", "jsonl"]
_FORMATS: tuple[FileFormat, ...] = ("csv", "parquet", "jsonl")
_SUFFIXES: dict[str, FileFormat] = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


def detect_format(path: Path, explicit: str | None = None) -> FileFormat:
    """The format named explicitly, or the one the file's suffix says."""
    if explicit is not None:
        if explicit not in _FORMATS:
            raise InputError(
                f"unknown format {explicit!r}{did_you_mean(explicit, _FORMATS)}; "
                "use csv, parquet or jsonl"
            )
        return explicit
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise InputError(
            f"cannot tell the format of {path} from its suffix {suffix!r}; "
            "use .csv, .parquet or .jsonl, or pass --format"
        )
    return _SUFFIXES[suffix]


class RecordReader:
    """Iterate a record file in chunks. ``total_rows`` is exact for Parquet and an estimate
    (lines) for CSV and JSON Lines. ``bad_lines`` collects JSON Lines that are not JSON objects
    as ``(row, message)``; those rows are counted but yield no record."""

    def __init__(self, path: Path, *, chunk_rows: int = 65_536, fmt: str | None = None) -> None:
        if not path.is_file():
            raise InputError(f"input file {path} does not exist")
        self.path = path
        self.format = detect_format(path, fmt)
        self.chunk_rows = chunk_rows
        self.bad_lines: list[tuple[int, str]] = []
        self.total_rows: int | None = None
        if self.format == "parquet":
            try:
                # pre_buffer keeps every column chunk read so far: memory would grow with the file
                self._parquet = pq.ParquetFile(path, pre_buffer=False)
            except (pa.ArrowInvalid, OSError) as exc:
                raise InputError(f"{path} is not a readable Parquet file: {exc}") from None
            self.total_rows = self._parquet.metadata.num_rows
        else:
            self.total_rows = _count_lines(path) - (1 if self.format == "csv" else 0)

    def __iter__(self) -> Iterator[pl.DataFrame]:
        if self.format == "parquet":
            for batch in self._parquet.iter_batches(batch_size=self.chunk_rows):
                yield pl.from_arrow(batch)  # type: ignore[misc]
        elif self.format == "csv":
            yield from self._csv()
        else:
            yield from self._jsonl()

    def _csv(self) -> Iterator[pl.DataFrame]:
        with self.path.open("rb") as fh:
            header = fh.readline()
        if not header.strip():
            raise InputError(f"{self.path} is empty: a CSV input needs a header row")
        columns = pacsv.read_csv(io.BytesIO(header)).column_names
        try:
            reader = pacsv.open_csv(
                self.path,
                read_options=pacsv.ReadOptions(block_size=1 << 22),
                convert_options=pacsv.ConvertOptions(
                    column_types={c: pa.string() for c in columns},
                    strings_can_be_null=True,
                ),
            )
            buffered: list[pa.RecordBatch] = []
            size = 0
            for batch in reader:
                buffered.append(batch)
                size += batch.num_rows
                while size >= self.chunk_rows:
                    table = pa.Table.from_batches(buffered)
                    yield pl.from_arrow(table.slice(0, self.chunk_rows))  # type: ignore[misc]
                    rest = table.slice(self.chunk_rows)
                    buffered, size = rest.to_batches(), rest.num_rows
            if size:
                yield pl.from_arrow(pa.Table.from_batches(buffered))  # type: ignore[misc]
        except pa.ArrowInvalid as exc:
            raise InputError(f"{self.path} is not a readable CSV file: {exc}") from None

    def _jsonl(self) -> Iterator[pl.DataFrame]:
        records: list[dict[str, Any]] = []
        row = 0
        with self.path.open("rb") as fh:
            for line in fh:
                if not line.strip():
                    continue
                row += 1
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    self.bad_lines.append((row, f"row {row}: not valid JSON ({exc.msg})"))
                    record = None
                if record is not None and not isinstance(record, dict):
                    self.bad_lines.append((row, f"row {row}: a record must be a JSON object"))
                    record = None
                records.append(record if record is not None else {"__bad__": True})
                if len(records) == self.chunk_rows:
                    yield _frame_of(records)
                    records = []
        if records:
            yield _frame_of(records)


def _frame_of(records: list[dict[str, Any]]) -> pl.DataFrame:
    """Records with any mix of value types: columns with one JSON type keep it, others become
    text (the contract then rejects the values it cannot read)."""
    keys: dict[str, None] = {}
    for record in records:
        keys.update(dict.fromkeys(record))
    columns: dict[str, pl.Series] = {}
    for key in keys:
        values = [r.get(key) for r in records]
        try:
            columns[key] = pl.Series(key, values, strict=True)
        except (TypeError, pl.exceptions.PolarsError, OverflowError):
            columns[key] = pl.Series(
                key,
                [
                    None if v is None else (v if isinstance(v, str) else json.dumps(v))
                    for v in values
                ],
                dtype=pl.String,
            )
    return pl.DataFrame(columns, height=len(records))


def _count_lines(path: Path) -> int:
    lines = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 24):
            lines += chunk.count(b"\n")
    return lines


def read_sample(path: Path, rows: int) -> pl.DataFrame:
    """The first ``rows`` records of a reference file (Parquet, CSV or JSON Lines)."""
    reader = RecordReader(path, chunk_rows=min(rows, 65_536))
    chunks: list[pl.DataFrame] = []
    taken = 0
    for chunk in reader:
        chunks.append(chunk.head(rows - taken))
        taken += chunks[-1].height
        if taken >= rows:
            break
    return pl.concat(chunks, how="diagonal_relaxed") if chunks else pl.DataFrame()


class RecordWriter:
    """Append chunks to a CSV, Parquet or JSON Lines file with one fixed schema."""

    def __init__(self, path: Path, schema: dict[str, pl.DataType], *, fmt: str | None = None):
        self.path = path
        self.format = detect_format(path, fmt)
        self.schema = schema
        self.rows = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._parquet: pq.ParquetWriter | None = None
        self._fh: IO[bytes] | None = None
        if self.format == "parquet":
            arrow = pl.DataFrame(schema=schema).to_arrow().schema
            self._parquet = pq.ParquetWriter(path, arrow, compression="snappy")
        else:
            self._fh = path.open("wb")
            if self.format == "csv":
                pl.DataFrame(schema=self._csv_schema()).write_csv(self._fh)

    def _csv_schema(self) -> dict[str, pl.DataType]:
        return {k: (pl.String() if isinstance(v, pl.List) else v) for k, v in self.schema.items()}

    def write(self, frame: pl.DataFrame) -> None:
        frame = frame.select(list(self.schema)).cast(self.schema)  # type: ignore[arg-type]
        self.rows += frame.height
        if self._parquet is not None:
            self._parquet.write_table(frame.to_arrow())
        elif self.format == "csv":
            assert self._fh is not None
            nested = [k for k, v in self.schema.items() if isinstance(v, pl.List)]
            frame = frame.with_columns(
                pl.col(k)
                .list.eval(pl.element().struct.json_encode())
                .list.join(",")
                .pipe(lambda e: pl.concat_str([pl.lit("["), e, pl.lit("]")]))
                .alias(k)
                for k in nested
            )
            frame.write_csv(self._fh, include_header=False)
        else:
            assert self._fh is not None
            frame.write_ndjson(self._fh)

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if self._fh is not None:
            self._fh.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
