"""doorstep on Apache Spark: decide a DataFrame on the executors with the app's one decision path.

Install with ``pip install 'doorstep[spark]'`` (Java 17 or newer on every machine). For users who
already hold a DataFrame::

    from doorstep.spark import score_dataframe, spark_session

    spark = spark_session("local[2]")
    decisions = score_dataframe(spark.read.parquet("customers/"), "app/doorstep.yaml")
    decisions.write.parquet("decisions/")

``doorstep score DIR --engine spark`` does the same from the command line, rejects included.
See docs/spark.md.
"""

from __future__ import annotations

from doorstep.services.runs.spark import (
    default_rejects_location,
    read_dataset,
    reject_dataframe,
    score_dataframe,
    score_dataset,
    spark_session,
)

__all__ = [
    "default_rejects_location",
    "read_dataset",
    "reject_dataframe",
    "score_dataframe",
    "score_dataset",
    "spark_session",
]
