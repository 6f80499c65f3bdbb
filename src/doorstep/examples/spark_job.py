"""A one-file Spark job: decide a dataset with a doorstep app, for ``spark-submit``.

    spark-submit --master spark://host:7077 \\
        --conf spark.sql.execution.arrow.maxRecordsPerBatch=65536 \\
        "$(python -c 'import doorstep.examples.spark_job as j; print(j.__file__)')" \\
        s3a://lake/customers/ --spec app/doorstep.yaml --out s3a://lake/decisions/

The spec, its model and its reference are read on the driver and reach the executors as bytes;
doorstep (``pip install 'doorstep[spark]'``) must be installed where the executors run Python.
Copy this file and change it freely: it only calls :mod:`doorstep.spark`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    """Score SOURCE into OUT (Parquet) and OUT.rejects; print the summary; 0 when any record
    was decided, 5 when every record was rejected (as ``doorstep score``)."""
    from pyspark.sql import SparkSession

    from doorstep.spark import score_dataset

    parser = argparse.ArgumentParser(description="Decide a dataset with a doorstep app.")
    parser.add_argument("source", help="dataset to decide (Parquet, CSV or JSON Lines)")
    parser.add_argument("--spec", required=True, type=Path, help="the app's doorstep.yaml")
    parser.add_argument("--out", required=True, help="decisions dataset to write (Parquet)")
    parser.add_argument("--rejects", help="rejects dataset (default: OUT.rejects)")
    parser.add_argument("--format", help="input format when the suffix does not say")
    args = parser.parse_args(argv)
    spark = SparkSession.builder.appName("doorstep score").getOrCreate()
    summary = score_dataset(
        spark, args.source, args.spec, args.out, rejects=args.rejects, input_format=args.format
    )
    print(
        f"{summary.rows:,} rows: {summary.decided:,} decided, {summary.rejected_rows:,} "
        f"rejected, {summary.explained:,} explained in {summary.seconds:.1f} s; "
        f"actions {dict(summary.actions)}; decisions in {summary.output}, "
        f"rejects in {summary.rejects}"
    )
    return 5 if summary.rows and not summary.decided else 0


if __name__ == "__main__":
    raise SystemExit(main())
