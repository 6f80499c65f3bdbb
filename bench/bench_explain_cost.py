"""What explaining every decision costs on the online path, in process, on CPU time.

    .venv/bin/python -m bench.bench_explain_cost --batch 1,16,64

The churn example app of ``bench_service`` (``ensure_service_app``): its customers in
micro-batches through ``decide_validated`` (the decision path of every online request, without
HTTP and the store), with every decision explained and with none, interleaved, best of
``--repeat``. CPU seconds of the process (``time.process_time``), not wall time: on a shared
machine they move far less than a server's throughput, so the explanation's own cost per row can
be compared between two versions of the code. The ratio is the in-process throughput with
explanations against without; the HTTP server adds a per-request cost to both
(``bench_service``'s saturation part measures that).
"""

from __future__ import annotations

import argparse
import time

import polars as pl

from bench.bench_service import ensure_service_app
from bench.common import DATA_DIR, print_table


def measure(batch: int, repeat: int) -> tuple[float, float]:
    """CPU seconds per row of ``decide_validated``: ``(no reasons, every decision explained)``."""
    from doorstep.core.contract import validate_batch
    from doorstep.services.apps.loading import load_app
    from doorstep.services.decide.batch import decide_validated

    service = ensure_service_app(DATA_DIR)
    app = load_app(service.explain_all)
    records = service.complete
    batches = [
        validate_batch(pl.DataFrame(records[i : i + batch]), app.spec.inputs)
        for i in range(0, len(records) - batch, batch)
    ][: max(8, 512 // batch)]
    rows = sum(b.valid.height for b in batches)
    for checked in batches[:4]:  # warm up
        decide_validated(app, checked, explain=True)
    best = {False: float("inf"), True: float("inf")}
    for _ in range(repeat):
        for explain in (False, True):
            started = time.process_time()
            for checked in batches:
                decide_validated(app, checked, explain=explain)
            best[explain] = min(best[explain], (time.process_time() - started) / rows)
    return best[False], best[True]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", default="1,16,64", help="micro-batch sizes, comma-separated")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    table = []
    for batch in (int(b) for b in args.batch.split(",")):
        plain, explained = measure(batch, args.repeat)
        table.append(
            [
                str(batch),
                f"{plain * 1e3:.3f}",
                f"{explained * 1e3:.3f}",
                f"{(explained - plain) * 1e3:.3f}",
                f"{plain / explained:.2f}",
            ]
        )
    header = ["micro-batch", "no reasons ms/row", "explained ms/row", "explaining ms/row", "ratio"]
    print_table("Explaining every decision, in process (CPU time)", header, table)


if __name__ == "__main__":
    main()
