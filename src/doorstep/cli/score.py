"""``doorstep score``: decide every record of a file, or every entity of a database (a run)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from doorstep.cli import render, runs_render
from doorstep.cli.console import console, errors
from doorstep.cli.options import DbOption, InputFormatOption, SpecOption, open_db
from doorstep.cli.score_spark import Engine, record_on_spark, refuse_run_options, score_on_spark

__all__ = ["EXIT_ALL_REJECTED", "fail_if_all_rejected", "score"]

EXIT_ALL_REJECTED = 5
"""The exit status of a run that read rows and rejected every one of them: nothing decided (the
input does not fit the spec's contract). Some rows rejected is still 0: data problems, reported."""


def score(
    source: Annotated[
        str | None,
        typer.Argument(
            help="Records to decide: .csv, .parquet or .jsonl (with --engine spark: a file, "
            "a folder of them or any location Spark reads).",
        ),
    ] = None,
    *,
    spec: SpecOption,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Decisions file to write.")
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option(
            help="Rejects file (default: OUT's name + .rejects.csv; with --record: none, the "
            "run keeps the first 100)."
        ),
    ] = None,
    input_format: InputFormatOption = None,
    explain: Annotated[
        bool | None,
        typer.Option(
            "--explain/--no-explain",
            help="Explain every decision, or none (default: as the spec's explain.for says).",
        ),
    ] = None,
    chunk_rows: Annotated[int, typer.Option(min=1, help="Rows per chunk.")] = 65_536,
    from_source: Annotated[
        str | None,
        typer.Option(
            "--from", help="Decide every entity of this SQL feature source of the spec instead."
        ),
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="With --query: a database URL to read entities from.")
    ] = None,
    query: Annotated[
        str | None, typer.Option(help="With --url: a SELECT of the id and the input fields.")
    ] = None,
    record: Annotated[
        bool,
        typer.Option(
            "--record",
            help="Record the file's decisions in the store, as a run (instead of --out; "
            "with --engine spark: the dataset's, recorded from the executors).",
        ),
    ] = False,
    db: DbOption = None,
    deliver: Annotated[
        bool,
        typer.Option(
            help="With --record, --from or --url: enqueue the actions through the outbox."
        ),
    ] = False,
    engine: Annotated[
        Engine,
        typer.Option(
            help="Decide in this process, or on Apache Spark (SOURCE a dataset, --out a "
            "Parquet dataset, rejects beside it; needs doorstep[spark] and Java 17+)."
        ),
    ] = Engine.local,
    master: Annotated[
        str | None,
        typer.Option(
            help="With --engine spark: the Spark master, e.g. spark://host:7077 (default: "
            "local[*], every core of this machine)."
        ),
    ] = None,
) -> None:
    """Decide every record of a file (write decisions and rejected rows, or --record them in
    the store as a run), or every entity of a database (--from SOURCE, or --url and --query:
    recorded in the store, as a run).

    A run's decisions go to the store, never to a file: --out is for files, --deliver and --db
    for runs (--record, --from, --url), --rejects for files and --record, and mixing them is a
    usage error (exit 2).

    Exits 0 when records were decided, even if some were rejected (see the rejects), 5 when
    every record read was rejected and nothing was decided, 1 on errors, 2 on usage errors."""
    from doorstep.services.apps.loading import load_app
    from doorstep.services.rollout.serving import staged_app
    from doorstep.services.runs.file_runs import record_file
    from doorstep.services.runs.files import score_file
    from doorstep.services.runs.sources import run_by_hand

    source_path = None if source is None else Path(source)
    if engine is Engine.spark:
        refuse_run_options(
            {"--from": from_source, "--url": url, "--query": query}
            | ({"--out": out, "--rejects": rejects} if record else {"--record": record})
            | ({} if record else {"--db": db, "--deliver": deliver})
        )
        if record:
            if source is None:
                raise typer.BadParameter("give the SOURCE dataset to record", param_hint="SOURCE")
            run = record_on_spark(
                source,
                spec,
                db,
                master=master or "local[*]",
                input_format=input_format,
                explain=explain,
                deliver=deliver,
                chunk_rows=chunk_rows,
            )
            fail_if_all_rejected(run.rows, run.decided, f"doorstep runs show {run.id}")
            return
        if source is None or out is None:
            raise typer.BadParameter(
                "give a SOURCE dataset and --out", param_hint="--out" if source else "SOURCE"
            )
        rows, decided = score_on_spark(
            source,
            spec,
            str(out),
            master=master or "local[*]",
            rejects=None if rejects is None else str(rejects),
            input_format=input_format,
            explain=explain,
            chunk_rows=chunk_rows,
        )
        fail_if_all_rejected(rows, decided, "the rejects dataset")
        return
    if master is not None:
        raise typer.BadParameter("applies to --engine spark only", param_hint="--master")
    from_database = from_source is not None or url is not None or query is not None
    _refuse_mixed_options(
        from_database,
        source=source_path,
        from_source=from_source,
        url=url,
        query=query,
        record=record,
        file_options={"--out": out, "--rejects": rejects, "--format": input_format},
        run_options={"--deliver": deliver or None, "--db": db},
    )
    if record:
        if source_path is None:
            raise typer.BadParameter("give the SOURCE file to record", param_hint="--record")
        app = load_app(spec)
        render.warnings(errors, app.warnings)
        with open_db(db) as store, render.progress(console) as bar:
            run = record_file(
                staged_app(app, store),
                store,
                source_path,
                input_format=input_format,
                deliver=deliver,
                explain=explain,
                chunk_rows=chunk_rows,
                rejects=rejects,
                on_total=bar.total,
                on_progress=bar.advance,
            )
        runs_render.run_done(console, errors, run)
        fail_if_all_rejected(run.rows, run.decided, f"doorstep runs show {run.id}")
        return
    if from_database:
        app = load_app(spec)
        with (
            open_db(db) as store,
            console.status(f"Deciding every entity of {from_source or 'query'}…"),
        ):
            run = run_by_hand(
                staged_app(app, store),
                store,
                from_source,
                url,
                query,
                deliver=deliver,
                explain=explain,
                chunk_rows=chunk_rows,
            )
        runs_render.run_done(console, errors, run)
        fail_if_all_rejected(run.rows, run.decided, f"doorstep runs show {run.id}")
        return
    if source_path is None or out is None:
        raise typer.BadParameter(
            "give a SOURCE file and --out (or --record), or --from SOURCE, or --url and --query",
            param_hint="--out" if source_path is not None else "SOURCE",
        )
    app = load_app(spec)
    render.warnings(errors, app.warnings)
    with render.progress(console) as bar:
        summary = score_file(
            app,
            source_path,
            out,
            rejects=rejects,
            input_format=input_format,
            chunk_rows=chunk_rows,
            explain=explain,
            on_total=bar.total,
            on_progress=bar.advance,
        )
    render.score_summary(console, summary)
    fail_if_all_rejected(summary.rows, summary.decided, f"the rejects file {summary.rejects}")


def _refuse_mixed_options(
    from_database: bool,
    *,
    source: Path | None,
    from_source: str | None,
    url: str | None,
    query: str | None,
    record: bool,
    file_options: dict[str, object],
    run_options: dict[str, object],
) -> None:
    """A usage error (exit 2) naming both options when options of a file and options of a
    database run are mixed: each would be silently ignored otherwise (``--out`` with ``--from``
    wrote nothing). A run's decisions go to the store, not a file: a run resumes after a crash
    and may be finished by another runner, so no one process could write the whole file."""
    if from_database:
        if from_source is not None and (url is not None or query is not None):
            raise typer.BadParameter(
                "give --from SOURCE or --url and --query, not both",
                param_hint="--url" if url is not None else "--query",
            )
        if from_source is None and (url is None or query is None):
            raise typer.BadParameter(
                "--url and --query go together: give both, or --from SOURCE",
                param_hint="--query" if query is None else "--url",
            )
        chosen = "--from" if from_source is not None else "--url/--query"
        given = [name for name, value in file_options.items() if value is not None]
        if source is not None:
            given.insert(0, "SOURCE")
        if record:
            given.insert(0, "--record")
        if given:
            raise typer.BadParameter(
                f"cannot be combined with {chosen}: a run from a database records "
                "its decisions in the store (see doorstep runs show, or doorstep export "
                "training-data for a file), it writes no decisions or rejects file",
                param_hint=given[0],
            )
        return
    if record:
        if file_options["--out"] is not None:
            raise typer.BadParameter(
                "cannot be combined with --record: a recorded run's decisions are in the store "
                "(doorstep export training-data writes them to a file); a run may stop and be "
                "resumed (doorstep runs resume), even elsewhere, so no one process could write "
                "its whole decisions file",
                param_hint="--out",
            )
        return
    given = [name for name, value in run_options.items() if value is not None]
    if given:
        raise typer.BadParameter(
            "applies to runs (SOURCE with --record, --from SOURCE, or --url and --query); "
            "scoring a file without --record writes its decisions to --out and records "
            "nothing in a store",
            param_hint=given[0],
        )


def fail_if_all_rejected(rows: int, decided: int, where: str) -> None:
    if rows and not decided:
        errors.print(
            f"[bold red]error[/]: all {rows:,} records were rejected and none was decided; "
            f"{where} says why, record by record",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(code=EXIT_ALL_REJECTED)
