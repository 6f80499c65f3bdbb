"""Online decisions per second with a shadow version on, against the same service with it off.

    .venv/bin/python -m bench.bench_shadow --requests 4000 --repeat 3 --json shadow.json

The churn example app (``bench/.data/service-churn-200``, as ``bench_service`` makes it; its
spec explains acted and reviewed decisions) is served by the decision service in process
(:class:`doorstep.web.service.DecisionService`: JSON parsed, single-record requests micro-batched,
decided, recorded on SQLite with ``synchronous=FULL``, answered), ``--clients`` requests in
flight at a time. **off**: the champion alone. **on**: the same model loaded a second time as
the shadow (``with_model``), so the shadow costs exactly what the champion's own scoring costs:
it decides every record of each micro-batch too, and its rows are written to
``shadow_decisions`` in the decisions' transaction.

No HTTP: the socket and the server's request handling cost the same with the shadow on or off
and would only dilute the ratio. Every run starts from an empty store; the modes run
``--repeat`` times interleaved and the best run of each counts. Target: on ≥ 0.8x of off.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from bench.bench_service import ensure_service_app
from bench.common import DATA_DIR, machine_info, print_table, write_json

TARGET = 0.8
"""Decisions per second with the shadow on, as a share of those with it off."""
WARM_UP = 200
"""Requests decided before the clock starts (the first of the bodies)."""


async def _drive(service: Any, app: str, bodies: list[bytes], clients: int) -> int:
    queue = iter(bodies)
    decided = 0

    async def client() -> None:
        nonlocal decided
        for body in queue:
            await service.decide(app, body, actor="bench", explain=None, idempotency_key=None)
            decided += 1

    await asyncio.gather(*(client() for _ in range(clients)))
    return decided


def run_once(loaded: Any, bodies: list[bytes], clients: int, work: Path) -> tuple[float, int]:
    """Seconds to decide ``bodies`` through a fresh service on an empty store; shadow rows."""
    from doorstep.services.apps.registry import Registry
    from doorstep.store import open_store
    from doorstep.web.metrics import ServiceMetrics
    from doorstep.web.service import DecisionService
    from doorstep.web.settings import ServeSettings

    folder = Path(tempfile.mkdtemp(dir=work))
    store = open_store(f"sqlite:///{folder / 'doorstep.db'}", home=folder)
    try:
        settings = ServeSettings(home=str(folder), deliver=False, schedules=False)
        service = DecisionService(
            Registry({loaded.name: loaded}), store, settings, ServiceMetrics()
        )

        async def main() -> float:
            await _drive(service, loaded.name, bodies[:WARM_UP], clients)
            started = time.perf_counter()
            done = await _drive(service, loaded.name, bodies, clients)
            seconds = time.perf_counter() - started
            await service.close()
            assert done == len(bodies)
            return seconds

        seconds = asyncio.run(main())
        shadow_rows = 0
        if loaded.shadow is not None:
            version = loaded.shadow.model_version
            shadow_rows = sum(len(page) for page in store.iter_shadow(loaded.name, version))
        return seconds, shadow_rows
    finally:
        store.close()
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=4_000, help="single-record requests")
    parser.add_argument("--clients", type=int, default=32, help="requests in flight")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--trees", type=int, default=200, help="trees of the example's model")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)

    from doorstep.services.apps.loading import load_app, with_model

    example = ensure_service_app(args.data_dir, trees=args.trees)
    champion = load_app(example.directory / "doorstep.yaml")
    twin = with_model(champion, example.model, version="shadow-twin")
    modes = {"off": champion, "on": replace(champion, shadow=twin)}
    records = example.records
    bodies = [orjson.dumps(records[i % len(records)]) for i in range(args.requests)]
    best: dict[str, float] = {}
    runs: dict[str, list[float]] = {name: [] for name in modes}
    shadow_rows = 0
    with tempfile.TemporaryDirectory(prefix="bench-shadow-") as work:
        for _ in range(max(1, args.repeat)):
            for name, loaded in modes.items():
                seconds, rows = run_once(loaded, bodies, args.clients, Path(work))
                runs[name].append(seconds)
                if name == "on":
                    shadow_rows = rows
        best = {name: min(times) for name, times in runs.items()}
    expected = args.requests + min(WARM_UP, args.requests)
    if shadow_rows != expected:
        raise RuntimeError(f"{shadow_rows} shadow rows stored, expected {expected}")
    rate = {name: args.requests / seconds for name, seconds in best.items()}
    ratio = rate["on"] / rate["off"]
    print_table(
        f"Online decisions/s, {args.requests} single-record requests, {args.clients} in flight",
        ["mode", "best s", "decisions/s", "ratio"],
        [
            ["shadow off", f"{best['off']:.2f}", f"{rate['off']:,.0f}", "1.00x"],
            ["shadow on", f"{best['on']:.2f}", f"{rate['on']:,.0f}", f"{ratio:.2f}x"],
        ],
    )
    met = ratio >= TARGET
    print(f"target ≥ {TARGET}x: {'met' if met else 'NOT met'}")
    results = {
        "requests": args.requests,
        "clients": args.clients,
        "seconds": runs,
        "decisions_per_second": rate,
        "ratio": ratio,
        "target": TARGET,
        "met": met,
        "machine": machine_info(),
    }
    if args.json is not None:
        write_json(args.json, results)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
