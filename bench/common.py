"""Shared pieces of the benchmarks: synthetic data, the model, the spec, timing and machine info.

Everything generated is cached in ``bench/.data/`` (git-ignored) under names that carry the
generator version, the row count and the model size, so repeated runs reuse it and a change to
the generator never mixes old and new files.

The data: an entity id (``C000000001``…), 20 numeric features (10 int, 10 float) and 3
categorical features with a handful of categories each, as the input contract declares them.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

__all__ = [
    "CATEGORIES",
    "DATA_DIR",
    "FEATURES",
    "FLOAT_FIELDS",
    "ID_FIELD",
    "INT_FIELDS",
    "Timing",
    "doorstep_command",
    "ensure_app",
    "ensure_rows",
    "feature_matrix",
    "machine_info",
    "print_table",
    "time_best",
    "write_json",
]

GENERATOR_VERSION = 2
"""Bump when the generated data changes, so cached files are not reused."""

DATA_DIR = Path(__file__).resolve().parent / ".data"
ID_FIELD = "customer_id"
INT_FIELDS = [f"n{i:02d}" for i in range(10)]
FLOAT_FIELDS = [f"x{i:02d}" for i in range(10)]
CATEGORIES: dict[str, list[str]] = {
    "plan": ["basic", "plus", "premium"],
    "region": ["north", "south", "east", "west"],
    "channel": ["web", "store", "phone", "partner", "app"],
}
FEATURES = [*INT_FIELDS, *FLOAT_FIELDS, *CATEGORIES]
"""Feature order, as the model and the spec list them."""

CHUNK_ROWS = 500_000
"""Rows generated (and held in memory) at a time when writing a data file."""
ROW_GROUP_ROWS = 262_144
"""Parquet row group size of the generated files (the polars default)."""

_INT_HIGH = [5, 12, 30, 60, 100, 365, 600, 1_000, 5_000, 100_000]
_FLOAT_SCALE = [1.0, 2.5, 10.0, 50.0, 100.0, 0.1, 3.0, 20.0, 1_000.0, 7.5]


# --- data -----------------------------------------------------------------------------------


def _chunk(rng: np.random.Generator, rows: int, first_id: int) -> tuple[pa.Table, npt.NDArray[Any]]:
    """``rows`` records with ids from ``first_id``, and the true log-odds of each."""
    columns: dict[str, pa.Array] = {}
    ids = pa.array(np.arange(first_id, first_id + rows, dtype=np.int64))
    padded = pc.utf8_lpad(pc.cast(ids, pa.string()), width=9, padding="0")
    columns[ID_FIELD] = pc.binary_join_element_wise("C", padded, "")
    logit = np.full(rows, -1.2)
    for i, (name, high) in enumerate(zip(INT_FIELDS, _INT_HIGH, strict=True)):
        integers = rng.integers(0, high + 1, rows, dtype=np.int64)
        columns[name] = pa.array(integers)
        if i < 6:
            logit += (0.9 - 0.3 * i) * (integers / high - 0.5)
    for i, (name, scale) in enumerate(zip(FLOAT_FIELDS, _FLOAT_SCALE, strict=True)):
        normal = rng.normal(0.0, 1.0, rows)
        columns[name] = pa.array(np.abs(normal) * scale if i % 2 else normal * scale)
        if i < 5:
            logit += (0.6 - 0.1 * i) * normal
    logit += 0.4 * np.sin(3 * columns[FLOAT_FIELDS[0]].to_numpy()) * (columns["n00"].to_numpy() > 2)
    effects = {
        "plan": [0.0, 0.3, 0.8],
        "region": [0.0, 0.1, -0.2, 0.2],
        "channel": [0.0, -0.3, 0.4, 0.1, -0.1],
    }
    for name, values in CATEGORIES.items():
        weights = np.linspace(1.0, 0.5, len(values))
        codes = rng.choice(len(values), rows, p=weights / weights.sum())
        columns[name] = pa.array(np.asarray(values, dtype=object)[codes], pa.string())
        logit += np.asarray(effects[name])[codes]
    return pa.table(columns), 1.8 * logit


def _chunks(rows: int, seed: int) -> Iterator[tuple[pa.Table, npt.NDArray[Any]]]:
    done = 0
    while done < rows:
        size = min(CHUNK_ROWS, rows - done)
        rng = np.random.default_rng([seed, done])
        yield _chunk(rng, size, first_id=done + 1)
        done += size


def write_rows(path: Path, rows: int, *, seed: int = 7) -> Path:
    """Write ``rows`` records to a Parquet file, one chunk at a time (flat generator memory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    writer: pq.ParquetWriter | None = None
    try:
        for table, _ in _chunks(rows, seed):
            if writer is None:
                writer = pq.ParquetWriter(partial, table.schema)
            writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
    finally:
        if writer is not None:
            writer.close()
    partial.replace(path)
    return path


def ensure_rows(rows: int, data_dir: Path = DATA_DIR, *, seed: int = 7) -> Path:
    """The cached Parquet file of ``rows`` records, written if absent."""
    path = data_dir / f"rows-v{GENERATOR_VERSION}-s{seed}-{rows}.parquet"
    if not path.exists():
        write_rows(path, rows, seed=seed)
    return path


# --- model and spec -------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchApp:
    """The benchmark's app folder: spec, model and reference sample."""

    directory: Path
    spec: Path
    model: Path
    reference: Path


def ensure_app(
    data_dir: Path = DATA_DIR, *, train_rows: int = 50_000, trees: int = 200
) -> BenchApp:
    """Train (once) a LightGBM binary model on ``train_rows`` synthetic records with native
    categoricals, and write its reference sample and ``doorstep.yaml`` next to it."""
    directory = data_dir / f"app-v{GENERATOR_VERSION}-{train_rows}-{trees}"
    app = BenchApp(
        directory,
        directory / "doorstep.yaml",
        directory / "model.lgb.txt",
        directory / "reference.parquet",
    )
    if not app.model.exists():
        directory.mkdir(parents=True, exist_ok=True)
        _train(app, train_rows=train_rows, trees=trees)
    app.spec.write_text(spec_text(), encoding="utf-8")  # cheap: always the current spec
    return app


def _train(app: BenchApp, *, train_rows: int, trees: int) -> None:
    import lightgbm as lgb
    import pandas as pd

    tables, logits = zip(*_chunks(train_rows, seed=11), strict=True)
    table = pa.concat_tables(tables)
    logit = np.concatenate(logits)
    labels = np.random.default_rng(12).random(train_rows) < 1.0 / (1.0 + np.exp(-logit))
    frame = table.select(FEATURES).to_pandas()
    for name, values in CATEGORIES.items():
        frame[name] = pd.Categorical(frame[name], categories=values)
    params = {
        "objective": "binary",
        "num_leaves": 31,
        "learning_rate": 0.05,
        "min_data_in_leaf": 20,
        "verbose": -1,
        "seed": 1,
    }
    dataset = lgb.Dataset(
        frame, label=labels.astype(np.float64), categorical_feature=list(CATEGORIES)
    )
    booster = lgb.train(params, dataset, num_boost_round=trees)
    partial = app.model.with_name(app.model.name + ".partial")
    booster.save_model(str(partial))
    reference = table.slice(0, min(10_000, train_rows)).select(FEATURES)
    pq.write_table(reference, app.reference)
    partial.replace(app.model)


def spec_text() -> str:
    """The benchmark app's ``doorstep.yaml``: every row explained, two rules and a review band."""
    fields = []
    for name, high in zip(INT_FIELDS, _INT_HIGH, strict=True):
        fields.append(f"    {name}: {{type: int, min: 0, max: {high}}}")
    for i, name in enumerate(FLOAT_FIELDS):
        bounds = ", min: 0" if i % 2 else ""
        fields.append(f"    {name}: {{type: float{bounds}}}")
    for name, values in CATEGORIES.items():
        fields.append(f"    {name}: {{type: category, values: [{', '.join(values)}]}}")
    body = "\n".join(fields)
    return f"""\
# Written by bench/common.py: the benchmark app (regenerated on every run).
app:
  name: bench
  owner: bench@example.com
  description: Synthetic app for doorstep's benchmarks
model: {{path: model.lgb.txt, task: binary, positive_class: 1}}
inputs:
  id: {ID_FIELD}
  fields:
{body}
reference: reference.parquet
explain: {{top: 3, for: [all], score_label: risk}}
policy:
  control_group: 0.1
  rules:
    - {{name: high, when: "score >= 0.8", action: offer}}
    - {{name: premium, when: "score >= 0.6 AND plan = 'premium'", action: offer}}
    - {{name: borderline, when: "score >= 0.5", action: offer, review: true}}
  default: none
actions:
  offer: {{}}
"""


def feature_matrix(table: pa.Table | pa.RecordBatch) -> npt.NDArray[np.float64]:
    """The float64 matrix LightGBM predicts on: numbers as they are, categories as their index
    in the model's category list (what ``pandas_categorical`` means), unknown ones as NaN."""
    rows = table.num_rows
    matrix = np.empty((rows, len(FEATURES)), dtype=np.float64)
    for i, name in enumerate(FEATURES):
        column = table.column(name)
        if name in CATEGORIES:
            codes = pc.index_in(column, value_set=pa.array(CATEGORIES[name]))
            matrix[:, i] = codes.to_numpy(zero_copy_only=False)
        else:
            matrix[:, i] = column.to_numpy()
    return matrix


# --- running doorstep -----------------------------------------------------------------------


def doorstep_command() -> list[str]:
    """The ``doorstep`` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "doorstep"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from doorstep.cli.main import main; main()"]


# --- timing and reporting -------------------------------------------------------------------

T = TypeVar("T")


@dataclass(frozen=True)
class Timing:
    """Best (minimum) and all wall-clock times of repeated runs, in seconds."""

    best: float
    runs: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    def as_dict(self) -> dict[str, Any]:
        return {"best": self.best, "median": self.median, "runs": list(self.runs)}


def time_best(fn: Callable[[], T], repeat: int) -> tuple[Timing, T]:
    """Run ``fn`` ``repeat`` times; the best wall-clock time (other processes only ever slow a
    run down, so the minimum is the least noisy estimate) and the last result."""
    runs: list[float] = []
    result: T | None = None
    for _ in range(max(1, repeat)):
        started = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - started)
    return Timing(min(runs), tuple(runs)), result  # type: ignore[return-value]


def machine_info() -> dict[str, Any]:
    """What the figures were measured on."""
    import lightgbm
    import polars

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    memory = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            kib = int(fh.readline().split()[1])
        memory = round(kib / 1024**2, 1)
    except (OSError, ValueError, IndexError):  # pragma: no cover - not on Linux
        pass
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": cores,
        "memory_gib": memory,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "polars": polars.__version__,
        "pyarrow": pa.__version__,
        "lightgbm": lightgbm.__version__,
        "numpy": np.__version__,
    }


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    """A Rich table when Rich is there, plain aligned text otherwise."""
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is a dependency of the CLI
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        print(title)
        for row in [header, *rows]:
            print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        return
    table = Table(title=title)
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    Console(width=max(120, len(title))).print(table)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
