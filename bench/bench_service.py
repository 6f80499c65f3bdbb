"""Speed of the decision service (``doorstep serve``) against floors and peers measured in the
same run, on loopback.

    .venv/bin/python -m bench.bench_service --json service.json
    .venv/bin/python -m bench.bench_service --only saturation,peers --workers 1,2 --repeat 3
    .venv/bin/python -m bench.bench_service --only held --duration 60 --profile

Model and records: the churn example app (``doorstep.examples.churn.write_example``), its
``customers.parquet`` rows as request bodies. Each server runs as a subprocess on a free port,
is warmed up, measured, and stopped afterwards (also when the run fails).

1. **held** — 500 requests/s offered for ``--duration`` s, open loop (latency counted from each
   request's intended send time, see ``bench/loadgen.py``), single-record POSTs to doorstep on
   SQLite with every decision explained (``explain.for: [all]``). Target: 0 errors, p99 <= 50 ms.
   Sent by the raw client (``--client``): httpx's own CPU per request would be measured too.
2. **saturation** — 32 connections back to back, same worker count for every server:
   (a) doorstep without explanations (``explain.for: [on_demand]``) vs the bare FastAPI floor
   (``bench/floor_app.py``: JSON -> numpy row -> ``Booster.predict``), target >= 0.6;
   (b) doorstep explaining every decision vs the explanation floor, ``workers / t`` where ``t`` is
   one record's ``pred_contrib`` time measured in this process, target >= 0.9; and (b) against
   (a): explaining every decision keeps >= 0.7 of the throughput without explanations.
3. **peers** — MLServer and BentoML serving the same model, predict only, in the saturation
   round (installed by ``bench/peers/setup.sh`` into ``bench/.data/venvs/``; a peer that is not
   installed is skipped, never an error). doorstep without explanations must be ahead of both.
4. **batch** — ``{"records": [...]}`` of 1,000 records, a few clients back to back: decisions
   recorded per second on SQLite (no explanations). Target >= 20,000/s.

doorstep writes each decision's outbox rows in its transaction, as always, but runs with
``--no-deliver``: sending them is measured by ``bench_dispatch.py``, and the floor and the peers
send nothing either.

Saturation measurements run round-robin ``--repeat`` times and the best run of each server
counts: other processes on the machine slow floors, peers and doorstep alike.

``--profile`` runs one extra single-worker doorstep (explaining every decision) under a stack
sampler (every thread, ``sys._current_frames``) during a held-load run and prints where the time
goes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from bench.common import DATA_DIR, doorstep_command, machine_info, print_table, write_json
from bench.loadgen import LoadResult, run_closed, run_open

ROOT = Path(__file__).resolve().parents[1]
PEERS_DIR = ROOT / "bench" / "peers"
VENVS = DATA_DIR / "venvs"
PARTS = ("held", "saturation", "peers", "batch")

HELD_P99_MS = 50.0
NO_EXPLAIN_TARGET = 0.6
EXPLAIN_TARGET = 0.9
EXPLAINED_SHARE_TARGET = 0.7
BATCH_TARGET = 20_000.0
APP = "churn"


# --- the app --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceApp:
    directory: Path
    model: Path
    explain_all: Path
    no_explain: Path
    records: list[dict[str, Any]]
    """Every customer, as JSON-ready dicts (what a client sends)."""
    complete: list[dict[str, Any]]
    """Customers with no missing value: the saturation bodies (peers' JSON has no NaN)."""


def ensure_service_app(data_dir: Path, *, trees: int = 200) -> ServiceApp:
    import polars as pl

    from doorstep.examples.churn import write_example

    directory = data_dir / f"service-churn-{trees}"
    if not (directory / "customers.parquet").exists():
        partial = directory.with_name(directory.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        write_example(partial, trees=trees)
        shutil.rmtree(directory, ignore_errors=True)
        partial.rename(directory)
    text = (directory / "doorstep.yaml").read_text(encoding="utf-8")
    variants = {}
    for name, rule in (("explain-all", "[all]"), ("no-explain", "[on_demand]")):
        spec = directory / f"doorstep-{name}.yaml"
        new, count = re.subn(r"(?m)^  for: .*$", f"  for: {rule}", text)
        if count != 1:
            raise RuntimeError("could not find explain.for in the churn example's spec")
        spec.write_text(new, encoding="utf-8")
        variants[name] = spec
    records = pl.read_parquet(directory / "customers.parquet").to_dicts()
    complete = [r for r in records if all(v is not None for v in r.values())]
    return ServiceApp(
        directory,
        directory / "model.lgb.txt",
        variants["explain-all"],
        variants["no-explain"],
        records,
        complete,
    )


# --- in-process floors ----------------------------------------------------------------------


def per_record_seconds(app: ServiceApp, repeat: int, *, contrib: bool, rows: int = 300) -> float:
    """Best-of-``repeat`` mean time of one single-record ``predict`` (or ``pred_contrib``)."""
    import lightgbm as lgb

    from bench.floor_app import RowBuilder

    booster = lgb.Booster(model_file=str(app.model))
    builder = RowBuilder(booster)
    matrix = [builder.row(r) for r in app.complete[:rows]]
    best = math.inf
    for _ in range(max(1, repeat)):
        started = time.perf_counter()
        for row in matrix:
            booster.predict(row, pred_contrib=contrib, num_threads=1)
        best = min(best, (time.perf_counter() - started) / len(matrix))
    return best


# --- servers --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    url: str
    """The URL the load goes to."""
    bodies: list[bytes]
    headers: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server we started (its own process group: uvicorn's workers go with it)."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{_tail(log)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.25)
    raise RuntimeError(f"server not ready after {timeout:.0f} s at {url}:\n{_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Servers(contextlib.ExitStack):
    """Start servers; every one is stopped when the block ends, also on failure."""

    def __init__(self, logs: Path) -> None:
        super().__init__()
        self.logs = logs

    def start(
        self,
        server: Server,
        command: Sequence[str],
        ready: str,
        *,
        env: dict[str, str] | None = None,
        cwd: Path = ROOT,
        timeout: float = 180,
    ) -> Server:
        log = self.logs / f"{server.name}.log"
        handle = log.open("wb")
        self.callback(handle.close)
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.callback(_stop, process)
        server.process, server.log = process, log
        _wait_ready(process, ready, log, timeout)
        return server


def create_key(db: str) -> str:
    done = subprocess.run(
        [*doorstep_command(), "keys", "create", "--role", "client", "--name", "bench", "--db", db],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    match = re.search(r"dsk_[A-Za-z0-9_\-]+", done.stdout + done.stderr)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"doorstep keys create failed:\n{done.stdout}\n{done.stderr}")
    return match[0]


def start_doorstep(
    servers: Servers,
    name: str,
    spec: Path,
    bodies: list[bytes],
    *,
    workers: int,
    work: Path,
    batch_wait_ms: float | None = None,
    wrapper: Sequence[str] = (),
) -> Server:
    db = f"sqlite:///{work / (name + '.db')}"
    key = create_key(db)
    port = free_port()
    command = [*doorstep_command(), "serve", str(spec), "--port", str(port), "--db", db]
    # Outbox rows are written with each decision (that cost is measured); sending them is
    # measured by bench_dispatch.py, as the floor and the peers send nothing either.
    command += ["--workers", str(workers), "--no-deliver"]
    if batch_wait_ms is not None:
        command += ["--batch-wait-ms", str(batch_wait_ms)]
    if wrapper:
        command = [*wrapper, *command[len(doorstep_command()) :]]
    base = f"http://127.0.0.1:{port}"
    server = Server(
        name, f"{base}/v1/apps/{APP}/decisions", bodies, {"authorization": f"Bearer {key}"}
    )
    return servers.start(server, command, f"{base}/readyz")


def start_floor(servers: Servers, app: ServiceApp, bodies: list[bytes], workers: int) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bench.floor_app:app_from_env", "--factory"]
    command += ["--port", str(port), "--workers", str(workers), "--no-access-log"]
    command += ["--log-level", "warning"]
    base = f"http://127.0.0.1:{port}"
    server = Server(f"floor-w{workers}", f"{base}/predict", bodies)
    return servers.start(server, command, f"{base}/healthz", env={"FLOOR_MODEL": str(app.model)})


def peer_python(name: str) -> Path | None:
    python = VENVS / name / "bin" / "python"
    return python if python.exists() else None


def start_mlserver(
    servers: Servers, app: ServiceApp, rows: list[list[float]], workers: int, work: Path
) -> Server:
    python = peer_python("mlserver")
    assert python is not None
    folder = work / f"mlserver-w{workers}"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(PEERS_DIR / "mlserver" / "model-settings.json", folder / "model-settings.json")
    shutil.copy(app.model, folder / "model.lgb.txt")
    port = free_port()
    settings = {
        "http_port": port,
        "grpc_port": free_port(),
        "metrics_port": free_port(),
        # 1 worker: inference in the HTTP process (no IPC hop); N: N inference processes.
        "parallel_workers": 0 if workers == 1 else workers,
        "debug": False,
    }
    (folder / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
    bodies = [
        json.dumps(
            {"inputs": [{"name": "input-0", "shape": [1, len(r)], "datatype": "FP64", "data": r}]}
        ).encode()
        for r in rows
    ]
    base = f"http://127.0.0.1:{port}"
    server = Server(f"mlserver-w{workers}", f"{base}/v2/models/churn/infer", bodies)
    command = [str(python.parent / "mlserver"), "start", str(folder)]
    return servers.start(server, command, f"{base}/v2/models/churn/ready", cwd=folder)


def start_bentoml(
    servers: Servers, app: ServiceApp, rows: list[list[float]], workers: int, work: Path
) -> Server:
    python = peer_python("bentoml")
    assert python is not None
    port = free_port()
    home = work / "bentoml-home"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PEER_MODEL": str(app.model),
        "PEER_WORKERS": str(workers),
        "BENTOML_HOME": str(home),
        "BENTOML_DO_NOT_TRACK": "true",
    }
    bodies = [json.dumps({"row": r}).encode() for r in rows]
    base = f"http://127.0.0.1:{port}"
    server = Server(f"bentoml-w{workers}", f"{base}/predict", bodies)
    command = [str(python.parent / "bentoml"), "serve", "bentoml_service:Churn"]
    command += ["--port", str(port), "--host", "127.0.0.1"]
    return servers.start(server, command, f"{base}/readyz", env=env, cwd=PEERS_DIR)


# --- measurements ---------------------------------------------------------------------------


def record_bodies(records: Sequence[dict[str, Any]]) -> list[bytes]:
    return [json.dumps(r, separators=(",", ":")).encode() for r in records]


def model_rows(app: ServiceApp, records: Sequence[dict[str, Any]]) -> list[list[float]]:
    import lightgbm as lgb

    from bench.floor_app import RowBuilder

    builder = RowBuilder(lgb.Booster(model_file=str(app.model)))
    return [builder.row(r)[0].tolist() for r in records]


def check_answer(server: Server) -> dict[str, Any]:
    """One request, which must succeed: the server does what the benchmark thinks it does."""
    import httpx

    response = httpx.post(server.url, content=server.bodies[0], headers=server.headers, timeout=30)
    if response.status_code != 200:
        raise RuntimeError(f"{server.name}: HTTP {response.status_code}: {response.text[:500]}")
    answer: Any = response.json()
    return answer if isinstance(answer, dict) else {"answer": answer}


def warm(server: Server, seconds: float, connections: int, client: str) -> None:
    check_answer(server)
    run_closed(
        server.url,
        server.bodies,
        duration=seconds,
        headers=server.headers,
        connections=connections,
        client=client,
    )


def saturate(server: Server, seconds: float, connections: int, client: str) -> LoadResult:
    return run_closed(
        server.url,
        server.bodies,
        duration=seconds,
        headers=server.headers,
        connections=connections,
        client=client,
    )


def measure_held(
    app: ServiceApp, args: argparse.Namespace, work: Path, *, profile: bool = False
) -> dict[str, Any]:
    bodies = record_bodies(app.records)
    wrapper: list[str] = []
    profile_out = work / "profile.txt"
    if profile:
        wrapper = [sys.executable, "-m", "bench.bench_service", "--sample-serve", str(profile_out)]
    name = "doorstep-held-profiled" if profile else "doorstep-held"
    with Servers(work) as servers:
        server = start_doorstep(
            servers,
            name,
            app.explain_all,
            bodies,
            workers=args.held_workers,
            work=work,
            wrapper=wrapper,
        )
        answer = check_answer(server)
        if not answer.get("reasons"):
            raise RuntimeError(f"doorstep did not explain the decision: {answer}")
        run_open(
            server.url,
            bodies,
            rate=args.rate,
            duration=min(5.0, args.duration),
            headers=server.headers,
            client=args.client,
        )  # warm-up
        result = run_open(
            server.url,
            bodies,
            rate=args.rate,
            duration=args.duration,
            headers=server.headers,
            connections=args.open_connections,
            client=args.client,
        )
    print(result.line())
    out = result.summary()
    out["workers"] = args.held_workers
    out["met"] = result.errors == 0 and out["p99_ms"] <= HELD_P99_MS
    if profile:
        out["profile"] = profile_out.read_text() if profile_out.exists() else "(no profile)"
        print(out["profile"])
    return out


def measure_saturation(
    app: ServiceApp,
    args: argparse.Namespace,
    work: Path,
    parts: set[str],
    workers: int,
    contrib_seconds: float,
) -> dict[str, Any]:
    records = app.complete
    bodies = record_bodies(records)
    rows = model_rows(app, records)
    result: dict[str, Any] = {"workers": workers, "skipped": {}}
    with Servers(work) as servers:
        targets: list[Server] = []
        if "saturation" in parts:
            targets.append(start_floor(servers, app, bodies, workers))
        targets.append(
            start_doorstep(
                servers,
                f"doorstep-noexplain-w{workers}",
                app.no_explain,
                bodies,
                workers=workers,
                work=work,
            )
        )
        if "saturation" in parts:
            targets.append(
                start_doorstep(
                    servers,
                    f"doorstep-explain-w{workers}",
                    app.explain_all,
                    bodies,
                    workers=workers,
                    work=work,
                )
            )
        if "peers" in parts:
            for peer, start in (("mlserver", start_mlserver), ("bentoml", start_bentoml)):
                if peer_python(peer) is None:
                    message = f"not installed (run bench/peers/setup.sh {peer})"
                    print(f"skipping {peer}: {message}")
                    result["skipped"][peer] = message
                    continue
                try:
                    targets.append(start(servers, app, rows, workers, work))
                except Exception as exc:  # noqa: BLE001 - a broken peer is reported, not fatal
                    print(f"skipping {peer}: {exc}")
                    result["skipped"][peer] = f"failed to start: {str(exc)[:500]}"
        for server in targets:
            warm(server, args.warmup_seconds, args.connections, args.client)
        runs: dict[str, list[LoadResult]] = {s.name: [] for s in targets}
        for rep in range(args.repeat):
            for server in targets:
                load = saturate(server, args.saturation_seconds, args.connections, args.client)
                runs[server.name].append(load)
                print(f"[w{workers} run {rep + 1}] {server.name}: {load.line()}")
    best = {name: max(r, key=lambda x: x.achieved_rate) for name, r in runs.items()}
    result["runs"] = {n: [x.summary() for x in r] for n, r in runs.items()}
    result["best_rate"] = {n: r.achieved_rate for n, r in best.items()}
    result["errors"] = {n: sum(x.errors for x in r) for n, r in runs.items()}
    result["best_p99_ms"] = {n: r.percentile(99) for n, r in best.items()}
    rate = result["best_rate"]
    noexp = rate[f"doorstep-noexplain-w{workers}"]
    if "saturation" in parts:
        result["floor_rate"] = rate[f"floor-w{workers}"]
        result["explain_floor_rate"] = workers / contrib_seconds
        result["ratio_no_explain"] = noexp / result["floor_rate"]
        result["ratio_explain"] = (
            rate[f"doorstep-explain-w{workers}"] / result["explain_floor_rate"]
        )
        result["ratio_explained_share"] = rate[f"doorstep-explain-w{workers}"] / noexp
    for peer in ("mlserver", "bentoml"):
        key = f"{peer}-w{workers}"
        if key in rate:
            result[f"ratio_vs_{peer}"] = noexp / rate[key]
    return result


def measure_batch(app: ServiceApp, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    size = args.batch_size
    records = app.records
    bodies = []
    for start in range(0, max(len(records), size * 4), size):
        chunk = [records[(start + i) % len(records)] for i in range(size)]
        bodies.append(json.dumps({"records": chunk}, separators=(",", ":")).encode())
    with Servers(work) as servers:
        server = start_doorstep(
            servers, "doorstep-batch", app.no_explain, bodies, workers=1, work=work
        )
        answer = check_answer(server)
        decided = len(answer.get("decisions", []))
        if decided != size:
            raise RuntimeError(f"batch of {size} gave {decided} decisions: {answer.get('errors')}")
        run_closed(
            server.url,
            bodies,
            duration=3,
            headers=server.headers,
            connections=args.batch_clients,
            client=args.client,
        )
        best: LoadResult | None = None
        for _ in range(args.repeat):
            load = run_closed(
                server.url,
                bodies,
                duration=args.batch_seconds,
                headers=server.headers,
                connections=args.batch_clients,
                client=args.client,
                timeout=60,
            )
            print(f"batch: {load.line()}")
            if best is None or load.achieved_rate > best.achieved_rate:
                best = load
        db = work / "doorstep-batch.db"
    assert best is not None
    out = best.summary()
    out["records_per_request"] = size
    out["decisions_per_second"] = best.achieved_rate * size
    out["stored_decisions"] = stored_decisions(db)
    out["met"] = best.errors == 0 and out["decisions_per_second"] >= BATCH_TARGET
    return out


def stored_decisions(db: Path) -> int | None:
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(db)) as con:
            return int(con.execute("SELECT count(*) FROM decisions").fetchone()[0])
    except sqlite3.Error:
        return None


# --- profiling: a stack sampler around `doorstep serve` ---------------------------------------


def sample_serve(out: Path, argv: list[str], interval: float = 0.02) -> None:
    """Run ``doorstep <argv>`` while a thread samples every thread's stack; on exit write the
    functions seen most (self and cumulative, as shares of samples of busy threads)."""
    import atexit
    import threading
    from collections import Counter

    own: Counter[str] = Counter()
    cumulative: Counter[str] = Counter()
    samples = Counter[str]()
    stop = threading.Event()
    idle = ("selectors.py", "threading.py:wait", "queue.py", "_worker")

    def where(frame: Any) -> str:
        code = frame.f_code
        return f"{Path(code.co_filename).name}:{code.co_name}"

    def run() -> None:
        me = threading.get_ident()
        while not stop.wait(interval):
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                top = where(frame)
                stack = []
                f: FrameType | None = frame
                while f is not None:
                    stack.append(where(f))
                    f = f.f_back
                if any(top.startswith(i) or i in top for i in idle) or top.endswith(":wait"):
                    samples["idle"] += 1
                    continue
                samples["busy"] += 1
                own[top] += 1
                for name in set(stack):
                    cumulative[name] += 1

    def dump() -> None:
        stop.set()
        busy = max(1, samples["busy"])
        lines = [
            f"samples: busy {samples['busy']}, idle {samples['idle']} "
            f"(every {interval * 1000:.0f} ms, all threads)"
        ]
        lines.append("top self (share of busy samples):")
        lines += [f"  {n / busy:6.1%}  {name}" for name, n in own.most_common(25)]
        lines.append("top cumulative:")
        lines += [f"  {n / busy:6.1%}  {name}" for name, n in cumulative.most_common(45)]
        out.write_text("\n".join(lines) + "\n")

    threading.Thread(target=run, daemon=True).start()
    atexit.register(dump)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    from doorstep.cli.main import main

    sys.argv = ["doorstep", *argv]
    try:
        main()
    finally:
        dump()


# --- report ---------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:,.{digits}f}"


def report(results: dict[str, Any]) -> None:
    rows: list[list[str]] = []
    ratios: dict[str, float] = {}
    held = results.get("held")
    if held:
        rows.append(
            [
                f"held: {held['offered_rate']:.0f}/s offered, {held['duration']:.0f} s, "
                "explain all, "
                f"{held['workers']} worker",
                f"{held['achieved_rate']:,.0f}/s; errors {held['errors']}; "
                f"p50 {held['p50_ms']:.1f} ms; "
                f"p99 {held['p99_ms']:.1f} ms; max {held['max_ms']:.0f} ms",
                "",
                "0 errors, p99 ≤ 50 ms",
                "yes" if held["met"] else "no",
            ]
        )
        ratios["held_p99_ms"] = held["p99_ms"]
    for sat in results.get("saturation", []):
        w = sat["workers"]
        rate = sat["best_rate"]
        err = sat["errors"]
        if "floor_rate" in sat:
            rows.append(
                [
                    f"floor: bare FastAPI predict, {w}w",
                    f"{sat['floor_rate']:,.0f} req/s",
                    "",
                    "",
                    "",
                ]
            )
        rows.append(
            [
                f"doorstep, no explanations, {w}w",
                f"{rate[f'doorstep-noexplain-w{w}']:,.0f} req/s "
                f"(errors {err[f'doorstep-noexplain-w{w}']})",
                fmt(sat.get("ratio_no_explain"), 2),
                f"≥ {NO_EXPLAIN_TARGET}",
                ""
                if "ratio_no_explain" not in sat
                else ("yes" if sat["ratio_no_explain"] >= NO_EXPLAIN_TARGET else "no"),
            ]
        )
        if "ratio_no_explain" in sat:
            ratios[f"no_explain_vs_floor_w{w}"] = sat["ratio_no_explain"]
        if "explain_floor_rate" in sat:
            rows.append(
                [
                    f"explanation floor: {w} / pred_contrib time, {w}w",
                    f"{sat['explain_floor_rate']:,.0f} req/s",
                    "",
                    "",
                    "",
                ]
            )
            rows.append(
                [
                    f"doorstep, every decision explained, {w}w",
                    f"{rate[f'doorstep-explain-w{w}']:,.0f} req/s "
                    f"(errors {err[f'doorstep-explain-w{w}']})",
                    fmt(sat["ratio_explain"], 2),
                    f"≥ {EXPLAIN_TARGET}",
                    "yes" if sat["ratio_explain"] >= EXPLAIN_TARGET else "no",
                ]
            )
            ratios[f"explain_vs_floor_w{w}"] = sat["ratio_explain"]
            share = sat["ratio_explained_share"]
            rows.append(
                [
                    f"explained / no explanations, {w}w",
                    "",
                    fmt(share, 2),
                    f"≥ {EXPLAINED_SHARE_TARGET}",
                    "yes" if share >= EXPLAINED_SHARE_TARGET else "no",
                ]
            )
            ratios[f"explained_vs_no_explain_w{w}"] = share
        for peer, label in (("mlserver", "MLServer"), ("bentoml", "BentoML")):
            key = f"{peer}-w{w}"
            if key in rate:
                ratio = sat[f"ratio_vs_{peer}"]
                rows.append(
                    [
                        f"{label} (predict only), {w}w",
                        f"{rate[key]:,.0f} req/s (errors {err[key]})",
                        f"doorstep {ratio:.2f}x",
                        "doorstep ahead",
                        "yes" if ratio > 1 else "no",
                    ]
                )
                ratios[f"doorstep_vs_{peer}_w{w}"] = ratio
            elif peer in sat["skipped"]:
                rows.append([f"{label}, {w}w", f"skipped: {sat['skipped'][peer]}", "", "", ""])
    batch = results.get("batch")
    if batch:
        rows.append(
            [
                f"batch: {batch['records_per_request']} records/request, "
                f"{batch['connections']} clients, SQLite",
                f"{batch['decisions_per_second']:,.0f} decisions/s (errors {batch['errors']}, "
                f"stored {fmt(batch['stored_decisions'])})",
                "",
                "≥ 20,000/s",
                "yes" if batch["met"] else "no",
            ]
        )
        ratios["batch_decisions_per_second"] = batch["decisions_per_second"]
    print_table("Decision service", ["measurement", "figure", "ratio", "target", "met"], rows)
    for name, value in ratios.items():
        print(f"ratio {name}: {value:.4g}")
    results["ratios"] = ratios


# --- main -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--sample-serve"]:
        sample_serve(Path(argv[1]), argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(PARTS), help=f"parts: {','.join(PARTS)}")
    parser.add_argument("--rate", type=float, default=500.0, help="held load: requests/s")
    parser.add_argument("--duration", type=float, default=60.0, help="held load: seconds")
    parser.add_argument("--held-workers", type=int, default=1)
    parser.add_argument("--open-connections", type=int, default=64)
    parser.add_argument("--saturation-seconds", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", default="1", help="saturation worker counts, e.g. 1,2")
    parser.add_argument("--warmup-seconds", type=float, default=3.0)
    parser.add_argument(
        "--client",
        choices=["raw", "httpx"],
        default="raw",
        help="load client of every measurement (see bench/loadgen.py)",
    )
    parser.add_argument("--batch-seconds", type=float, default=20.0)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--batch-clients", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--trees", type=int, default=200)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also sample a single-worker doorstep under held load",
    )
    parser.add_argument("--keep", type=Path, help="keep server logs and stores in this folder")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers on SIGTERM too
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    if unknown := parts - set(PARTS):
        parser.error(f"unknown parts {sorted(unknown)}; choose from {','.join(PARTS)}")

    app = ensure_service_app(args.data_dir, trees=args.trees)
    results: dict[str, Any] = {
        "machine": machine_info(),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
    }
    predict_s = per_record_seconds(app, args.repeat, contrib=False)
    contrib_s = per_record_seconds(app, args.repeat, contrib=True, rows=100)
    results["in_process"] = {"predict_ms": predict_s * 1000, "pred_contrib_ms": contrib_s * 1000}
    print(
        f"in-process, one record: predict {predict_s * 1e3:.3f} ms, "
        f"pred_contrib {contrib_s * 1e3:.3f} ms"
    )
    work_context: Any = (
        contextlib.nullcontext(str(args.keep))
        if args.keep
        else tempfile.TemporaryDirectory(prefix="bench-service-")
    )
    with work_context as folder:
        work = Path(folder)
        work.mkdir(parents=True, exist_ok=True)
        if "held" in parts:
            results["held"] = measure_held(app, args, work)
        if parts & {"saturation", "peers"}:
            results["saturation"] = [
                measure_saturation(app, args, work, parts, int(w), contrib_s)
                for w in args.workers.split(",")
            ]
        if "batch" in parts:
            results["batch"] = measure_batch(app, args, work)
        if args.profile:
            results["profile"] = measure_held(app, args, work, profile=True)
    report(results)
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
