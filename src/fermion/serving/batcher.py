"""Dynamic batching: inputs from concurrent requests are gathered into one forward pass,
up to `max_batch_size` inputs or `max_delay_s` after the first one, whichever is first.

The forward pass runs on one worker thread, so the event loop keeps accepting and
parsing requests meanwhile; inputs that arrive during a pass make up the next batch."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prometheus_client import Histogram

RunBatch = Callable[[list[Any]], Sequence[Any]]


class DynamicBatcher:
    def __init__(
        self,
        run_batch: RunBatch,
        max_batch_size: int,
        max_delay_s: float,
        batch_sizes: Histogram | None = None,
        batch_seconds: Histogram | None = None,
    ) -> None:
        self.run_batch = run_batch
        self.max_batch_size = max(1, max_batch_size)
        self.max_delay_s = max(0.0, max_delay_s)
        self.batch_sizes = batch_sizes
        self.batch_seconds = batch_seconds
        self._queue: asyncio.Queue[tuple[Any, asyncio.Future]] = asyncio.Queue()
        self._worker: asyncio.Task | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fermion-forward")

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._worker:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        self._thread.shutdown(wait=True)

    async def submit(self, items: list[Any]) -> list[Any]:
        """The outputs for `items`, in order; they may travel in different batches."""
        loop = asyncio.get_running_loop()
        futures = []
        for item in items:
            future = loop.create_future()
            self._queue.put_nowait((item, future))
            futures.append(future)
        return list(await asyncio.gather(*futures))

    async def _gather(self) -> list[tuple[Any, asyncio.Future]]:
        batch = [await self._queue.get()]
        deadline = time.monotonic() + self.max_delay_s
        while len(batch) < self.max_batch_size:
            if not self._queue.empty():  # whatever is already waiting joins at once
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._gather()
            batch = [(item, f) for item, f in batch if not f.cancelled()]  # caller went away
            if not batch:
                continue
            started = time.perf_counter()
            try:
                outputs = await loop.run_in_executor(
                    self._thread, self.run_batch, [item for item, _ in batch]
                )
            except Exception as exc:  # every caller in the batch gets the error
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            if self.batch_sizes is not None:
                self.batch_sizes.observe(len(batch))
            if self.batch_seconds is not None:
                self.batch_seconds.observe(time.perf_counter() - started)
            for (_, future), output in zip(batch, outputs, strict=True):
                if not future.done():
                    future.set_result(output)
