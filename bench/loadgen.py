"""A small load generator for HTTP JSON APIs on loopback: open loop (fixed rate) and closed loop
(saturation).

Open loop: request ``i`` has an *intended* send time ``start + i / rate``, fixed before the run;
its latency is measured from that intended time, not from when it actually left. A server (or a
client) that falls behind therefore shows the wait of every request queued behind the stall —
coordinated omission is counted, as in wrk2. The run is bounded: after ``duration`` no request
is started, and requests still unanswered ``timeout`` seconds later count as errors.

Closed loop: ``connections`` clients each send a request, wait for its answer and send the next,
for ``duration`` seconds; the figure is completed requests per second.

Two clients:

* ``httpx`` — ``httpx.AsyncClient`` with a connection pool of ``connections``; what the open-loop
  measurements use (500 requests/s costs it a fraction of a core).
* ``raw`` — a minimal HTTP/1.1 keep-alive client on asyncio streams (requests pre-encoded,
  ``Content-Length`` and chunked answers). httpx spends ~0.3 ms of CPU per request, so on a
  2-core machine it saturates before a bare FastAPI endpoint does; the raw client costs a few
  times less and is the default for saturation runs. Floors and doorstep always use the same
  client in a run, so the ratios compare like with like.

    python -m bench.loadgen http://127.0.0.1:8000/predict --body '{"x": 1}' --rate 500 --duration 10
    python -m bench.loadgen URL --body-file bodies.jsonl --closed --connections 32 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

__all__ = ["LoadResult", "closed_loop", "open_loop", "run_closed", "run_open"]

ERROR_SAMPLES = 5


@dataclass
class LoadResult:
    """What one load run measured. Latencies in milliseconds."""

    mode: str
    client: str
    connections: int
    duration: float
    offered_rate: float | None
    sent: int = 0
    ok: int = 0
    errors: int = 0
    elapsed: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def achieved_rate(self) -> float:
        """Successful answers per second of the run."""
        return self.ok / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return math.nan
        return float(np.percentile(np.asarray(self.latencies_ms), q))

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        del data["latencies_ms"]
        data.update(
            achieved_rate=self.achieved_rate,
            p50_ms=self.percentile(50),
            p90_ms=self.percentile(90),
            p99_ms=self.percentile(99),
            max_ms=max(self.latencies_ms) if self.latencies_ms else math.nan,
        )
        return data

    def line(self) -> str:
        s = self.summary()
        offered = f"offered {s['offered_rate']:.0f}/s, " if s["offered_rate"] else ""
        return (
            f"{self.mode} ({self.client}, {self.connections} conns): {offered}"
            f"achieved {s['achieved_rate']:.1f}/s, ok {self.ok}, errors {self.errors}, "
            f"p50 {s['p50_ms']:.2f} ms, p90 {s['p90_ms']:.2f} ms, p99 {s['p99_ms']:.2f} ms, "
            f"max {s['max_ms']:.2f} ms"
        )

    def _error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < ERROR_SAMPLES:
            self.error_samples.append(what[:300])


# --- clients --------------------------------------------------------------------------------


class _Target:
    def __init__(self, url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http":
            raise ValueError(f"only http:// URLs are supported, got {url!r}")
        self.url = url
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.headers = {
            "content-type": "application/json",
            **{k.lower(): v for k, v in headers.items()},
        }

    def encode(self, body: bytes, extra: Mapping[str, str] | None = None) -> bytes:
        head = [f"POST {self.path} HTTP/1.1", f"host: {self.host}:{self.port}"]
        headers = {**self.headers, **{k.lower(): v for k, v in (extra or {}).items()}}
        head += [f"{k}: {v}" for k, v in headers.items()]
        head.append(f"content-length: {len(body)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class _RawConnection:
    """One HTTP/1.1 keep-alive connection; one request at a time."""

    def __init__(self, target: _Target) -> None:
        self.target = target
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, payload: bytes) -> tuple[int, bytes]:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(
                self.target.host, self.target.port
            )
        assert self.reader is not None
        try:
            self.writer.write(payload)
            head = await self.reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            length, chunked, close = None, False, False
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "transfer-encoding" and "chunked" in value.lower():
                    chunked = True
                elif name == "connection" and value.strip().lower() == "close":
                    close = True
            if status in (204, 304) or status < 200:  # never a body (RFC 9110)
                body = b""
            elif chunked:
                body = await self._chunked()
            elif length is not None:
                body = await self.reader.readexactly(length)
            else:
                body, close = await self.reader.read(), True
        except BaseException:
            self.close()
            raise
        if close:
            self.close()
        return status, body

    async def _chunked(self) -> bytes:
        assert self.reader is not None
        parts: list[bytes] = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class _RawPool:
    def __init__(self, target: _Target, size: int) -> None:
        self.idle: asyncio.Queue[_RawConnection] = asyncio.Queue()
        for _ in range(size):
            self.idle.put_nowait(_RawConnection(target))

    async def request(self, payload: bytes) -> tuple[int, bytes]:
        connection = await self.idle.get()
        try:
            return await connection.request(payload)
        finally:
            self.idle.put_nowait(connection)

    def close(self) -> None:
        while not self.idle.empty():
            self.idle.get_nowait().close()


class _Sender:
    """``send(i) -> (status, body)`` for body ``i % len(bodies)`` with the chosen client, and
    that body's own headers when ``request_headers`` is given (one mapping per body)."""

    def __init__(
        self,
        client: str,
        url: str,
        bodies: Sequence[bytes],
        headers: dict[str, str],
        size: int,
        timeout: float,
        request_headers: Sequence[Mapping[str, str]] | None = None,
    ) -> None:
        self.client, self.bodies, self.timeout = client, list(bodies), timeout
        if request_headers is not None and len(request_headers) != len(self.bodies):
            raise ValueError("request_headers needs one mapping per body")
        self.extra = list(request_headers or [{}] * len(self.bodies))
        self.target = _Target(url, headers)
        if client == "raw":
            self.payloads = [
                self.target.encode(b, h) for b, h in zip(self.bodies, self.extra, strict=True)
            ]
            self.pool: _RawPool | None = _RawPool(self.target, size)
            self.httpx: Any = None
        elif client == "httpx":
            import httpx

            self.pool = None
            limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
            self.httpx = httpx.AsyncClient(
                limits=limits, timeout=httpx.Timeout(timeout), headers=self.target.headers
            )
        else:
            raise ValueError(f"unknown client {client!r} (httpx or raw)")

    async def send(self, i: int) -> tuple[int, bytes]:
        if self.pool is not None:
            payload = self.payloads[i % len(self.payloads)]
            return await asyncio.wait_for(self.pool.request(payload), self.timeout)
        n = i % len(self.bodies)
        response = await self.httpx.post(
            self.target.url, content=self.bodies[n], headers=self.extra[n]
        )
        return response.status_code, response.content

    async def aclose(self) -> None:
        if self.pool is not None:
            self.pool.close()
        if self.httpx is not None:
            await self.httpx.aclose()


def _record(result: LoadResult, status: int, body: bytes, latency: float) -> None:
    key = str(status)
    result.statuses[key] = result.statuses.get(key, 0) + 1
    if 200 <= status < 300:
        result.ok += 1
        result.latencies_ms.append(latency * 1000)
    else:
        result._error(f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}")


# --- open loop ------------------------------------------------------------------------------


async def open_loop(
    url: str,
    bodies: Sequence[bytes],
    *,
    rate: float,
    duration: float,
    headers: dict[str, str] | None = None,
    connections: int = 64,
    client: str = "httpx",
    timeout: float = 10.0,
) -> LoadResult:
    """Offer ``rate`` requests/s for ``duration`` s; latency from each intended send time."""
    sender = _Sender(client, url, bodies, headers or {}, connections, timeout)
    result = LoadResult("open", client, connections, duration, rate)
    loop = asyncio.get_running_loop()
    total = int(rate * duration)
    # Requests due are queued in order and taken by ``connections`` senders, so at most
    # ``connections`` are in flight and the client's own pool never holds a backlog (httpx's pool
    # scans its waiting requests on every change: thousands queued there cost it quadratic CPU).
    due: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()

    async def sender_task() -> None:
        while (job := await due.get()) is not None:
            i, intended = job
            if loop.time() - intended > timeout:  # waited too long already: a timeout
                result._error("timed out before it could be sent (server too slow)")
                continue
            try:
                status, body = await asyncio.wait_for(sender.send(i), timeout)
            except Exception as exc:  # noqa: BLE001 - every failure is an error of the run
                result._error(f"{type(exc).__name__}: {exc}")
                continue
            _record(result, status, body, loop.time() - intended)

    workers = [loop.create_task(sender_task()) for _ in range(connections)]
    start = loop.time() + 0.05
    try:
        for i in range(total):
            intended = start + i / rate
            delay = intended - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            due.put_nowait((i, intended))
            result.sent += 1
        for _ in workers:
            due.put_nowait(None)
        await asyncio.wait(workers, timeout=timeout + 1)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        unanswered = result.sent - result.ok - result.errors
        for _ in range(max(0, unanswered)):
            result._error("unanswered at the end of the run")
        result.elapsed = max(loop.time() - start, duration)
        await sender.aclose()
    return result


# --- closed loop ----------------------------------------------------------------------------


async def closed_loop(
    url: str,
    bodies: Sequence[bytes],
    *,
    duration: float,
    headers: dict[str, str] | None = None,
    connections: int = 32,
    client: str = "raw",
    timeout: float = 10.0,
    request_headers: Sequence[Mapping[str, str]] | None = None,
) -> LoadResult:
    """``connections`` clients back to back for ``duration`` s: completed requests per second.
    ``request_headers``: each body's own headers (e.g. signatures), one mapping per body."""
    sender = _Sender(client, url, bodies, headers or {}, connections, timeout, request_headers)
    result = LoadResult("closed", client, connections, duration, None)
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline = start + duration
    counter = iter(range(1 << 62))

    async def worker() -> None:
        while loop.time() < deadline:
            i = next(counter)
            sent = loop.time()
            result.sent += 1
            try:
                status, body = await sender.send(i)
            except Exception as exc:  # noqa: BLE001
                result._error(f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(0.01)
                continue
            _record(result, status, body, loop.time() - sent)

    try:
        await asyncio.gather(*(worker() for _ in range(connections)))
    finally:
        result.elapsed = loop.time() - start
        await sender.aclose()
    return result


def run_open(url: str, bodies: Sequence[bytes], **kwargs: Any) -> LoadResult:
    return asyncio.run(open_loop(url, bodies, **kwargs))


def run_closed(url: str, bodies: Sequence[bytes], **kwargs: Any) -> LoadResult:
    return asyncio.run(closed_loop(url, bodies, **kwargs))


# --- command line ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--body", help="one JSON body sent every time")
    source.add_argument("--body-file", type=Path, help="JSON lines, sent in turn")
    parser.add_argument("--header", action="append", default=[], help="'Name: value'")
    parser.add_argument("--closed", action="store_true", help="closed loop (saturation)")
    parser.add_argument("--rate", type=float, default=100.0, help="open loop: requests/s")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=None)
    parser.add_argument("--client", choices=["httpx", "raw"], default=None)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--json", type=Path, help="write the summary here")
    args = parser.parse_args(argv)
    if args.body is not None:
        bodies = [args.body.encode()]
    else:
        bodies = [line.encode() for line in args.body_file.read_text().splitlines() if line.strip()]
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    started = time.perf_counter()
    if args.closed:
        result = run_closed(
            args.url,
            bodies,
            duration=args.duration,
            headers=headers,
            connections=args.connections or 32,
            client=args.client or "raw",
            timeout=args.timeout,
        )
    else:
        result = run_open(
            args.url,
            bodies,
            rate=args.rate,
            duration=args.duration,
            headers=headers,
            connections=args.connections or 64,
            client=args.client or "httpx",
            timeout=args.timeout,
        )
    print(result.line(), f"(wall {time.perf_counter() - started:.1f} s)")
    print("statuses:", dict(Counter(result.statuses)), "errors:", result.error_samples)
    if args.json:
        args.json.write_text(json.dumps(result.summary(), indent=2) + "\n")


if __name__ == "__main__":
    main()
