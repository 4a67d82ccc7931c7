"""A replica: one model behind FastAPI, with dynamic batching.

    POST /predict                       {"inputs": [...]} or multipart files -> top-k labels
    GET  /v2/health/live|ready, /v2/models/{name}[/ready], POST /v2/models/{name}/infer
    GET  /healthz  /readyz  /metrics

The model loads in the background once the server is up: /healthz answers at once,
/readyz only when the model is loaded and warmed up (the platform routes traffic to
ready replicas only)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import torch
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from fermion.error_responses import install_error_handlers
from fermion.errors import (
    EXIT_UNRECOVERABLE,
    FermionError,
    InvalidInput,
    NotFound,
    ServerUnavailable,
)
from fermion.modelfile import LoadedModel
from fermion.modelfile.inputs import Preprocessor, top_k
from fermion.modelfile.schema import TEXT_KINDS
from fermion.serving import v2
from fermion.serving.batcher import DynamicBatcher
from fermion.serving.bodies import MAX_REQUEST_MB, read_body
from fermion.serving.metrics import ReplicaMetrics

log = logging.getLogger("fermion.replica")


@dataclass
class ReplicaOptions:
    model: str  # what the replica serves, as NAME:vN (or a folder's name)
    names: list[str] = field(default_factory=list)  # names the V2 paths accept
    max_batch_size: int = 32
    max_batch_delay_ms: float = 5.0
    max_request_mb: float = MAX_REQUEST_MB
    max_inputs: int = 1024
    top_k: int = 3

    @property
    def version(self) -> str:
        return self.model.rpartition(":v")[2] if ":v" in self.model else "1"


class Replica:
    """The loaded model, its preprocessing and its batcher."""

    def __init__(
        self, model: LoadedModel, options: ReplicaOptions, metrics: ReplicaMetrics
    ) -> None:
        self.model = model
        self.options = options
        self.pre = Preprocessor(model)
        self.batcher = DynamicBatcher(
            self.run_batch,
            options.max_batch_size,
            options.max_batch_delay_ms / 1000,
            metrics.batch_size,
            metrics.batch_seconds,
        )
        metrics.queue_depth.set_function(lambda: self.batcher.queue_depth)
        self.metrics = metrics

    def run_batch(self, items: list[Any]) -> list[Any]:
        batch = self.pre.collate(items)
        with torch.inference_mode():
            out = self.model.network(batch).float()
        if self.model.regression:
            return out.reshape(-1).tolist()
        return list(torch.softmax(out, dim=1))

    def warm_up(self) -> None:
        example = self.pre.prepare(self.pre.example, "warm-up")
        for size in {1, min(self.options.max_batch_size, 8)}:
            self.run_batch([example] * size)

    async def predict(self, items: list[Any]) -> list[Any]:
        self.metrics.inputs.inc(len(items))
        return await self.batcher.submit(items)

    async def prepare(self, values: list[Any], convert: Callable[[Any, str], Any]) -> list[Any]:
        if not values:
            raise InvalidInput('"inputs" is empty: send at least one input')
        if len(values) > self.options.max_inputs:
            raise InvalidInput(
                f"{len(values)} inputs in one request; at most"
                f" {self.options.max_inputs}: split them"
            )
        # Decoding runs off the event loop, beside the forward pass.
        return await asyncio.to_thread(
            lambda: [convert(v, f"inputs[{i}]") for i, v in enumerate(values)]
        )


def create_replica_app(load: Callable[[], LoadedModel], options: ReplicaOptions) -> FastAPI:
    """`load` runs once, in a thread, after the server has started."""
    metrics = ReplicaMetrics()
    state: dict[str, Any] = {"replica": None, "error": None}
    limit = int(options.max_request_mb * 2**20)

    def load_and_warm() -> Replica:
        started = time.perf_counter()
        replica = Replica(load(), options, metrics)
        replica.warm_up()
        log.info("%s loaded and warmed up in %.1f s", options.model, time.perf_counter() - started)
        return replica

    async def loading() -> None:
        try:
            replica = await asyncio.to_thread(load_and_warm)
            replica.batcher.start()
            state["replica"] = replica
            print(f"ready: serving {options.model}", flush=True)
        except Exception as exc:  # noqa: BLE001 - the replica's own error, for its deployment
            log.exception("could not load %s", options.model)
            state["error"] = f"{type(exc).__name__}: {exc}"
            # Not reaching the server may pass; a model that raises on load will not.
            transient = isinstance(exc, ServerUnavailable)
            print(
                f"error: could not load {options.model}: {state['error']}",
                file=sys.stderr,
                flush=True,
            )
            os._exit(1 if transient else EXIT_UNRECOVERABLE)  # nothing is served yet

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(loading())
        yield
        task.cancel()
        if state["replica"] is not None:
            await state["replica"].batcher.stop()

    app = FastAPI(
        title=f"Fermion replica: {options.model}",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    install_error_handlers(app)

    def ready() -> Replica:
        if state["replica"] is None:
            reason = state["error"] or "the model is still loading"
            raise ServerUnavailable(f"{options.model} is not ready: {reason}")
        return state["replica"]

    def observe(route: str, started: float, code: int) -> None:
        metrics.requests.labels(route, str(code)).inc()
        metrics.latency.labels(route).observe(time.perf_counter() - started)
        if code >= 400:
            metrics.errors.labels(route).inc()

    # -- health -------------------------------------------------------------------
    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        if state["replica"] is None:
            reason = state["error"] or "loading"
            return JSONResponse({"status": "not ready", "reason": reason}, status_code=503)
        return JSONResponse({"status": "ready", "model": options.model})

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # -- the simple API -------------------------------------------------------------
    @app.post("/predict")
    async def predict(request: Request) -> Response:
        started, code = time.perf_counter(), 200
        try:
            replica = ready()
            values = await _predict_inputs(request, limit)
            items = await replica.prepare(values, replica.pre.prepare)
            outputs = await replica.predict(items)
            k = _top_k(request, options.top_k)
            if replica.model.regression:
                predictions = [{"value": value} for value in outputs]
            else:
                predictions = [top_k(p, replica.model.labels, k) for p in outputs]
            return Response(
                orjson.dumps({"model": options.model, "predictions": predictions}),
                media_type="application/json",
            )
        except FermionError as exc:
            code = exc.status
            raise
        except Exception:
            code = 500
            raise
        finally:
            observe("predict", started, code)

    # -- Open Inference Protocol (KServe V2) -----------------------------------------
    def v2_error(exc: FermionError) -> Response:
        return Response(
            v2.error_body(exc.message), status_code=exc.status, media_type="application/json"
        )

    def check_name(name: str) -> None:
        if name not in options.names:
            raise NotFound(
                f"model {name!r} is not served here; this endpoint serves"
                f" {' or '.join(map(repr, options.names))}"
            )

    @app.get("/v2")
    def v2_server() -> dict[str, Any]:
        return {"name": "fermion", "version": "2", "extensions": ["binary_tensor_data"]}

    @app.get("/v2/health/live")
    def v2_live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready")
    def v2_ready() -> Response:
        ok = state["replica"] is not None
        return JSONResponse({"ready": ok}, status_code=200 if ok else 503)

    @app.get("/v2/models/{name}/ready")
    @app.get("/v2/models/{name}/versions/{version}/ready")
    def v2_model_ready(name: str, version: str | None = None) -> Response:
        try:
            check_name(name)
        except FermionError as exc:
            return v2_error(exc)
        ok = state["replica"] is not None
        return JSONResponse({"name": name, "ready": ok}, status_code=200 if ok else 503)

    @app.get("/v2/models/{name}")
    @app.get("/v2/models/{name}/versions/{version}")
    def v2_metadata(name: str, version: str | None = None) -> Response:
        try:
            check_name(name)
            replica = ready()
        except FermionError as exc:
            return v2_error(exc)
        return JSONResponse(_metadata(name, options.version, replica))

    @app.post("/v2/models/{name}/infer")
    @app.post("/v2/models/{name}/versions/{version}/infer")
    async def v2_infer(name: str, request: Request, version: str | None = None) -> Response:
        started, code = time.perf_counter(), 200
        try:
            check_name(name)
            replica = ready()
            body = await read_body(request, limit)
            parsed = v2.parse_request(body, request.headers.get(v2.HEADER_LENGTH))
            values, convert = _v2_values(replica, parsed.input)
            items = await replica.prepare(values, convert)
            outputs = await replica.predict(items)
            result = _v2_outputs(replica, outputs, parsed.outputs)
            return Response(
                orjson.dumps(v2.response(name, options.version, parsed.id, result)),
                media_type="application/json",
            )
        except FermionError as exc:
            code = exc.status
            return v2_error(exc)
        except Exception:
            code = 500
            raise
        finally:
            observe("v2_infer", started, code)

    return app


async def _predict_inputs(request: Request, limit: int) -> list[Any]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        declared = request.headers.get("content-length")
        if declared and declared.isascii() and declared.isdigit() and int(declared) > limit:
            await read_body(request, limit)  # drains, then refuses
        form = await request.form(max_files=1024, max_part_size=limit)
        values: list[Any] = []
        for key, value in form.multi_items():
            if isinstance(value, str):
                if key in ("text", "inputs"):
                    values.append(value)
            else:
                values.append(await value.read())
        return values
    body = await read_body(request, limit)
    if not body:
        raise InvalidInput('the request has no body: send {"inputs": [...]} as JSON')
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(
            f'the request body is not JSON ({exc}); send {{"inputs": [...]}} or multipart files'
        ) from None
    if not isinstance(payload, dict) or "inputs" not in payload:
        raise InvalidInput('the request must be a JSON object with an "inputs" list')
    values = payload["inputs"]
    if not isinstance(values, list):
        values = [values]  # one input on its own
    return values


def _top_k(request: Request, default: int) -> int:
    text = request.query_params.get("top_k")
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise InvalidInput(f"top_k must be a positive integer, not {text!r}")
    return int(text)


def _v2_values(replica: Replica, tensor: v2.V2Input) -> tuple[list[Any], Callable]:
    kind = replica.model.preprocessing.kind
    shape = replica.pre.input_shape
    if kind in TEXT_KINDS:
        if tensor.datatype != "BYTES":
            raise InvalidInput(
                f"input {tensor.name!r} has datatype {tensor.datatype}; this text"
                " model takes BYTES (UTF-8 strings)"
            )
        return [
            v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in tensor.values
        ], replica.pre.prepare
    if kind == "image" and tensor.datatype == "BYTES":
        return list(tensor.values), replica.pre.prepare
    wanted = "FP16, FP32 or FP64" if kind == "image" else "a numeric type (FP32, INT64, ...)"
    numeric = tensor.datatype.startswith("FP") if kind == "image" else tensor.datatype in v2.NUMERIC
    if not numeric:
        extra = "BYTES (encoded images) or " if kind == "image" else ""
        raise InvalidInput(
            f"input {tensor.name!r} has datatype {tensor.datatype}; this model"
            f" takes {extra}{wanted} with shape [N, {', '.join(map(str, shape))}]"
        )
    array = np.asarray(tensor.values, dtype=np.float32)
    if array.ndim != len(shape) + 1:
        raise InvalidInput(
            f"input {tensor.name!r} has shape {tensor.shape}; this model takes"
            f" [N, {', '.join(map(str, shape))}]"
        )
    rows = list(torch.from_numpy(array.copy()))
    return rows, replica.pre.tensor


def _v2_outputs(replica: Replica, outputs: list[Any], wanted: list[str] | None) -> list[dict]:
    n = len(outputs)
    if replica.model.regression:
        available = {"value": {"name": "value", "datatype": "FP32", "shape": [n], "data": outputs}}
    else:
        probabilities = torch.stack(outputs)
        labels = [replica.model.labels[i] for i in probabilities.argmax(1).tolist()]
        available = {
            "probabilities": {
                "name": "probabilities",
                "datatype": "FP32",
                "shape": list(probabilities.shape),
                "data": probabilities.flatten().tolist(),
            },
            "label": {"name": "label", "datatype": "BYTES", "shape": [n], "data": labels},
        }
    if wanted is None:
        return list(available.values())
    unknown = [w for w in wanted if w not in available]
    if unknown:
        raise InvalidInput(
            f"no output named {', '.join(map(repr, unknown))}; this model has"
            f" {', '.join(available)}"
        )
    return [available[w] for w in wanted]


def _metadata(name: str, version: str, replica: Replica) -> dict[str, Any]:
    kind = replica.model.preprocessing.kind
    shape = replica.pre.input_shape
    if kind == "image":
        inputs = [
            {"name": "input", "datatype": "BYTES", "shape": [-1]},
            {"name": "input", "datatype": "FP32", "shape": [-1, *shape]},
        ]
    elif kind == "tabular":
        inputs = [{"name": "input", "datatype": "FP32", "shape": [-1, *shape]}]
    else:
        inputs = [{"name": "input", "datatype": "BYTES", "shape": [-1]}]
    if replica.model.regression:
        outputs = [{"name": "value", "datatype": "FP32", "shape": [-1]}]
    else:
        classes = len(replica.model.labels)
        outputs = [
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, classes]},
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
        ]
    return {
        "name": name,
        "versions": [version],
        "platform": "pytorch",
        "inputs": inputs,
        "outputs": outputs,
        "parameters": {"labels": replica.model.labels, "dataset_type": replica.model.kind.value},
    }
