"""Adaptive batching: inputs from concurrent requests are gathered into one forward pass.

A batch waits for more inputs only while more are on their way: requests that this
replica has accepted and is still reading or decoding (an `Arrival` counts each). A
request that finds the replica idle, with nothing else arriving, runs at once; under load
a batch grows until `max_batch_size` inputs or `max_delay_s` after its first input,
whichever is first, or until nothing more is arriving.

The forward pass runs on one worker thread, so the event loop keeps accepting and
parsing requests meanwhile; inputs that arrive during a pass make up the next batch."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from prometheus_client import Histogram

RunBatch = Callable[[list[Any]], Sequence[Any]]


@dataclass(frozen=True)
class Batched:
    """One input's output, and how it travelled: the size of its forward pass and the
    seconds it waited for that pass to start."""

    output: Any
    batch_size: int
    waited_s: float


@dataclass(frozen=True)
class Submitted:
    """A request's outputs in order, with the largest batch and longest wait among them."""

    outputs: list[Any]
    batch_size: int
    waited_s: float


@dataclass(slots=True)
class _Pending:
    item: Any
    future: asyncio.Future
    queued_at: float


class Arrival:
    """A request on its way to the batcher: counted from when it is accepted until its
    inputs are queued (or it fails), so a batch can wait for it."""

    def __init__(self, batcher: DynamicBatcher) -> None:
        self._batcher = batcher
        self._open = True
        batcher._arriving += 1

    def close(self) -> None:
        if self._open:
            self._open = False
            self._batcher._arriving -= 1
            self._batcher._wake()

    def __enter__(self) -> Arrival:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
        self._queue: deque[_Pending] = deque()
        self._arriving = 0
        self._running = False
        self._changed: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fermion-forward")

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    @property
    def idle(self) -> bool:
        """No forward pass running, nothing queued, at most one request arriving."""
        return not self._running and not self._queue and self._arriving <= 1

    def start(self) -> None:
        self._changed = asyncio.Event()
        self._worker = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._worker:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        self._thread.shutdown(wait=True)

    def arrival(self) -> Arrival:
        """Count a request from its first byte; `submit(..., arrival)` ends the count."""
        return Arrival(self)

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()

    async def submit(self, items: list[Any], arrival: Arrival | None = None) -> Submitted:
        """The outputs for `items`, in order; they may travel in different batches."""
        loop = asyncio.get_running_loop()
        now = time.perf_counter()
        futures = []
        for item in items:
            future = loop.create_future()
            self._queue.append(_Pending(item, future, now))
            futures.append(future)
        if arrival is not None:
            arrival.close()  # in the same step as queueing: a batch never sees neither
        self._wake()
        results: list[Batched] = await asyncio.gather(*futures)
        return Submitted(
            [r.output for r in results],
            max(r.batch_size for r in results),
            max(r.waited_s for r in results),
        )

    async def _gather(self) -> list[_Pending]:
        while not self._queue:
            self._changed.clear()
            await self._changed.wait()
        batch = [self._queue.popleft()]
        deadline = time.monotonic() + self.max_delay_s
        while len(batch) < self.max_batch_size:
            if self._queue:  # whatever is already waiting joins at once
                batch.append(self._queue.popleft())
                continue
            remaining = deadline - time.monotonic()
            if self._arriving == 0 or remaining <= 0:
                break  # nothing more on its way, or waited long enough
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return batch

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [p for p in await self._gather() if not p.future.cancelled()]
            if not batch:  # every caller went away
                continue
            started = time.perf_counter()
            self._running = True
            try:
                outputs = await loop.run_in_executor(
                    self._thread, self.run_batch, [p.item for p in batch]
                )
            except Exception as exc:  # every caller in the batch gets the error
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(exc)
                continue
            finally:
                self._running = False
            if self.batch_sizes is not None:
                self.batch_sizes.observe(len(batch))
            if self.batch_seconds is not None:
                self.batch_seconds.observe(time.perf_counter() - started)
            for pending, output in zip(batch, outputs, strict=True):
                if not pending.future.done():
                    pending.future.set_result(
                        Batched(output, len(batch), started - pending.queued_at)
                    )
