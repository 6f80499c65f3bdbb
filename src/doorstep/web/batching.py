"""Micro-batching: concurrent single-record requests of one app share one model call and one
store transaction.

Each app has a :class:`MicroBatcher`: requests are queued; a collector task takes the first,
waits at most ``max_wait`` for company (or until ``max_batch`` are queued), and runs the batch in
a worker thread (the model releases the GIL) while it collects the next one. Each request's
future gets its own result, so a bad record fails only its own request; an exception of the
whole batch (e.g. the store is down) fails every request of that batch. An exception that may
come from one request alone (``isolate`` says which: anything but the service's own errors,
i.e. a defect a record triggered) is not handed to the others: the batch is run again one
request at a time, and only the request that fails again gets it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import anyio.to_thread

__all__ = ["MicroBatcher"]

T = TypeVar("T")
R = TypeVar("R")


class MicroBatcher(Generic[T, R]):
    """Coalesce :meth:`submit` calls into calls of ``run(items) -> results`` (same order)."""

    def __init__(
        self,
        run: Callable[[Sequence[T]], Sequence[R]],
        *,
        max_batch: int = 256,
        max_wait: float = 0.002,
        concurrency: int = 2,
        isolate: Callable[[BaseException], bool] = lambda _: False,
    ) -> None:
        self.run, self.max_batch, self.max_wait = run, max_batch, max_wait
        self.isolate = isolate
        self.concurrency = concurrency
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[tuple[T, asyncio.Future[R]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self.batches = 0
        """Batches run so far (for tests and metrics)."""

    async def submit(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._task is None or self._task.done():
            self._start(loop)
        assert self._queue is not None
        future: asyncio.Future[R] = loop.create_future()
        self._queue.put_nowait((item, future))
        return await future

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue = asyncio.Queue()
        self._task = loop.create_task(
            self._collect(self._queue, asyncio.Semaphore(self.concurrency))
        )

    async def close(self) -> None:
        """Stop collecting; batches already running finish."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        self._task = None

    async def _collect(
        self, queue: asyncio.Queue[tuple[T, asyncio.Future[R]]], slots: asyncio.Semaphore
    ) -> None:
        while True:
            await slots.acquire()
            batch = [await queue.get()]
            if queue.empty() and self.max_wait > 0:
                await asyncio.sleep(self.max_wait)
            while len(batch) < self.max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            task = asyncio.get_running_loop().create_task(self._run(batch, slots))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(
        self, batch: list[tuple[T, asyncio.Future[R]]], slots: asyncio.Semaphore
    ) -> None:
        try:
            self.batches += 1
            results = await anyio.to_thread.run_sync(self.run, [item for item, _ in batch])
        except Exception as exc:  # noqa: BLE001 - handed to the requests it belongs to
            if len(batch) > 1 and self.isolate(exc):
                await self._run_alone(batch)
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            raise
        else:
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
        finally:
            slots.release()

    async def _run_alone(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        """Each request of a failed batch on its own: one poisoned request fails alone."""
        for item, future in batch:
            try:
                [result] = await anyio.to_thread.run_sync(self.run, [item])
            except Exception as exc:  # noqa: BLE001 - this request's own failure
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(result)
