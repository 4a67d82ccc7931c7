"""What a replica process holds: its options, its metrics, and (once loaded in the
background) the model in its runtime, with its batcher; or why it could not load."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Request

from fermion.errors import (
    EXIT_UNRECOVERABLE,
    FermionError,
    InvalidInput,
    ServerUnavailable,
)
from fermion.modelfile import LoadedModel
from fermion.payloads import MAX_BATCH_DELAY_MS, MAX_BATCH_SIZE
from fermion.serving.batcher import Arrival, DynamicBatcher, Submitted
from fermion.serving.bodies import MAX_REQUEST_MB
from fermion.serving.metrics import ReplicaMetrics
from fermion.serving.runtimes import ModelRuntime

if TYPE_CHECKING:
    from fermion.explain import Explainer

log = logging.getLogger("fermion.replica")
INLINE_DECODE_BYTES = 256 * 1024
BATCH_SIZE_HEADER = "fermion-batch-size"
BATCH_WAIT_HEADER = "fermion-batch-wait-ms"


@dataclass
class ReplicaOptions:
    model: str  # what the replica serves, as NAME:vN (or a folder's name)
    names: list[str] = field(default_factory=list)  # names the V2 paths accept
    max_batch_size: int = MAX_BATCH_SIZE
    max_batch_delay_ms: float = MAX_BATCH_DELAY_MS
    max_request_mb: float = MAX_REQUEST_MB
    max_inputs: int = 1024
    top_k: int = 3

    @property
    def version(self) -> str:
        return self.model.rpartition(":v")[2] if ":v" in self.model else "1"


class Replica:
    """The model in its runtime, and its batcher."""

    def __init__(
        self, runtime: ModelRuntime, options: ReplicaOptions, metrics: ReplicaMetrics
    ) -> None:
        self.runtime = runtime
        self.model = runtime.model
        self.options = options
        self.batcher = DynamicBatcher(
            runtime.run,
            options.max_batch_size,
            options.max_batch_delay_ms / 1000,
            metrics.batch_size,
            metrics.batch_seconds,
        )
        metrics.queue_depth.set_function(lambda: self.batcher.queue_depth)
        self.metrics = metrics
        self._explainer: Explainer | None = None
        self.explaining = asyncio.Lock()  # one at a time: each is dozens of forward passes

    def explainer(self) -> Explainer:
        """Built on the first explanation asked for (most replicas are never asked)."""
        if self._explainer is None:
            if self.model.spec.keras:
                raise InvalidInput(
                    f"{self.options.model} is a Keras model: explanations are for PyTorch models"
                )
            if not isinstance(self.model, LoadedModel):
                raise InvalidInput(
                    f"{self.options.model} is served with the {self.runtime.platform} runtime,"
                    " which has no gradients to explain with; deploy it with --runtime torch,"
                    " or explain with the model (fermion model explain)"
                )
            from fermion.explain import Explainer

            self._explainer = Explainer(self.model, self.options.model)
        return self._explainer

    def warm_up(self) -> None:
        example = self.runtime.prepare(self.runtime.example, "warm-up")
        for size in {1, min(self.options.max_batch_size, 8)}:
            self.runtime.run([example] * size)

    async def predict(self, items: list[Any], arrival: Arrival | None = None) -> Submitted:
        self.metrics.inputs.inc(len(items))
        return await self.batcher.submit(items, arrival)

    async def prepare(self, values: list[Any], convert: Callable[[Any, str], Any]) -> list[Any]:
        if not values:
            raise InvalidInput('"inputs" is empty: send at least one input')
        if len(values) > self.options.max_inputs:
            raise InvalidInput(
                f"{len(values)} inputs in one request; at most"
                f" {self.options.max_inputs}: split them"
            )
        if len(values) == 1 and self.batcher.idle and _small(values[0]):
            # Alone on an idle replica: nothing else waits on the event loop, and
            # decoding here saves a trip to a thread and back (a tenth of a small
            # request's time).
            return [convert(values[0], "inputs[0]")]
        # Otherwise decoding runs off the event loop, beside the forward pass.
        return await asyncio.to_thread(
            lambda: [convert(v, f"inputs[{i}]") for i, v in enumerate(values)]
        )


def _small(value: Any) -> bool:
    """Quick to decode: a record, a short text, an image of a few hundred kilobytes."""
    return not isinstance(value, str | bytes | bytearray) or len(value) <= INLINE_DECODE_BYTES


class ReplicaState:
    """Shared by every route through `request.app.state.replica`."""

    def __init__(self, load: Callable[[], ModelRuntime], options: ReplicaOptions) -> None:
        self.load = load
        self.options = options
        self.metrics = ReplicaMetrics()
        self.limit = int(options.max_request_mb * 2**20)  # bytes per request body
        self.replica: Replica | None = None
        self.error: str | None = None

    def _load_and_warm(self) -> Replica:
        started = time.perf_counter()
        replica = Replica(self.load(), self.options, self.metrics)
        replica.warm_up()
        log.info(
            "%s loaded and warmed up in %.1f s", self.options.model, time.perf_counter() - started
        )
        return replica

    async def loading(self) -> None:
        """Load in a thread while the server already answers /healthz. A model that
        raises on load ends the process with EXIT_UNRECOVERABLE and its error in the
        log, so that its deployment fails at once instead of waiting on it."""
        try:
            replica = await asyncio.to_thread(self._load_and_warm)
            replica.batcher.start()
            self.replica = replica
            print(f"ready: serving {self.options.model}", flush=True)
        except Exception as exc:  # noqa: BLE001 - the replica's own error, for its deployment
            log.exception("could not load %s", self.options.model)
            self.error = f"{type(exc).__name__}: {exc}"
            message = f"error: could not load {self.options.model}: {self.error}"
            print(message, file=sys.stderr, flush=True)
            # Not reaching the server may pass; a model that raises on load will not.
            os._exit(1 if isinstance(exc, ServerUnavailable) else EXIT_UNRECOVERABLE)

    def ready(self) -> Replica:
        if self.replica is None:
            reason = self.error or "the model is still loading"
            raise ServerUnavailable(f"{self.options.model} is not ready: {reason}")
        return self.replica

    @contextmanager
    def observing(self, route: str) -> Iterator[None]:
        """Count and time the request a route answers, by its status."""
        started, code = time.perf_counter(), 200
        try:
            yield
        except FermionError as exc:
            code = exc.status
            raise
        except Exception:
            code = 500
            raise
        finally:
            self.observe(route, started, code)

    def observe(self, route: str, started: float, code: int) -> None:
        self.metrics.requests.labels(route, str(code)).inc()
        self.metrics.latency.labels(route).observe(time.perf_counter() - started)
        if code >= 400:
            self.metrics.errors.labels(route).inc()


async def replica_state(request: Request) -> ReplicaState:
    # async: FastAPI runs a plain function dependency on a thread, per request.
    return request.app.state.replica


def batch_headers(submitted: Submitted) -> dict[str, str]:
    """How a request's inputs were batched, for callers tuning a deployment's batching:
    the largest forward pass they ran in and the longest they waited for it."""
    return {
        BATCH_SIZE_HEADER: str(submitted.batch_size),
        BATCH_WAIT_HEADER: f"{submitted.waited_s * 1000:.3f}",
    }
