"""The replica's Open Inference Protocol (KServe V2) routes: server and model health,
model metadata, and infer (JSON, or Triton's binary tensor extension). V2 clients read
errors as {"error": message}."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from fermion.errors import FermionError, InvalidInput, NotFound
from fermion.modelfile.decoding import detections
from fermion.modelfile.schema import TEXT_KINDS
from fermion.serving import v2
from fermion.serving.bodies import read_body
from fermion.serving.routes import RECOMMENDED
from fermion.serving.state import Replica, ReplicaState, batch_headers, replica_state

# Preprocessing kinds whose inputs are files (BYTES), or ready tensors (FP*) of the shape
# the network takes: what each file is, for error messages.
ENCODED_KINDS = {
    "image": "images",
    "detection": "images",
    "audio": "sound files",
    "hf-audio": "sound files",
}
BYTES_ONLY = ("hf-audio",)  # its features come from its own extractor: no ready tensors

router = APIRouter(prefix="/v2")
State = Annotated[ReplicaState, Depends(replica_state)]


def v2_error(exc: FermionError) -> Response:
    return Response(
        v2.error_body(exc.message), status_code=exc.status, media_type="application/json"
    )


def check_name(state: ReplicaState, name: str) -> None:
    if name not in state.options.names:
        raise NotFound(
            f"model {name!r} is not served here; this endpoint serves"
            f" {' or '.join(map(repr, state.options.names))}"
        )


@router.get("")
async def v2_server() -> dict[str, Any]:
    return {"name": "fermion", "version": "2", "extensions": ["binary_tensor_data"]}


@router.get("/health/live")
async def v2_live() -> dict[str, bool]:
    return {"live": True}


@router.get("/health/ready")
async def v2_ready(state: State) -> Response:
    ok = state.replica is not None
    return JSONResponse({"ready": ok}, status_code=200 if ok else 503)


@router.get("/models/{name}/ready")
@router.get("/models/{name}/versions/{version}/ready")
async def v2_model_ready(name: str, state: State, version: str | None = None) -> Response:
    try:
        check_name(state, name)
    except FermionError as exc:
        return v2_error(exc)
    ok = state.replica is not None
    return JSONResponse({"name": name, "ready": ok}, status_code=200 if ok else 503)


@router.get("/models/{name}")
@router.get("/models/{name}/versions/{version}")
async def v2_metadata(name: str, state: State, version: str | None = None) -> Response:
    try:
        check_name(state, name)
        replica = state.ready()
    except FermionError as exc:
        return v2_error(exc)
    return JSONResponse(_metadata(name, state.options.version, replica))


@router.post("/models/{name}/infer")
@router.post("/models/{name}/versions/{version}/infer")
async def v2_infer(
    name: str, request: Request, state: State, version: str | None = None
) -> Response:
    started, code = time.perf_counter(), 200
    try:
        check_name(state, name)
        replica = state.ready()
        with replica.batcher.arrival() as arrival:
            body = await read_body(request, state.limit)
            parsed = v2.parse_request(body, request.headers.get(v2.HEADER_LENGTH))
            values, convert = _v2_values(replica, parsed.input)
            items = await replica.prepare(values, convert)
            submitted = await replica.predict(items, arrival)
        result = _v2_outputs(replica, submitted.outputs, parsed.outputs)
        content, headers = v2.response(name, state.options.version, parsed, result)
        # With binary outputs the body is JSON and then raw bytes, which is how Triton
        # sends it too: application/octet-stream.
        binary = v2.HEADER_LENGTH in headers
        return Response(
            content,
            media_type="application/octet-stream" if binary else "application/json",
            headers={**headers, **batch_headers(submitted)},
        )
    except FermionError as exc:
        code = exc.status
        return v2_error(exc)
    except Exception:
        code = 500
        raise
    finally:
        state.observe("v2_infer", started, code)


def _v2_values(replica: Replica, tensor: v2.V2Input) -> tuple[list[Any], Callable]:
    kind = replica.model.preprocessing.kind
    shape = replica.runtime.input_shape
    if kind in TEXT_KINDS or kind == "interactions":
        if tensor.datatype != "BYTES":
            what = "user ids" if kind == "interactions" else "strings"
            raise InvalidInput(
                f"input {tensor.name!r} has datatype {tensor.datatype}; this"
                f" {replica.model.kind.value} model takes BYTES (UTF-8 {what})"
            )
        return [
            v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in tensor.values
        ], replica.runtime.prepare
    encoded = kind in ENCODED_KINDS
    if encoded and tensor.datatype == "BYTES":
        return list(tensor.values), replica.runtime.prepare
    if kind in BYTES_ONLY:
        raise InvalidInput(
            f"input {tensor.name!r} has datatype {tensor.datatype}; this model takes BYTES"
            f" (encoded {ENCODED_KINDS[kind]})"
        )
    wanted = "FP16, FP32 or FP64" if encoded else "a numeric type (FP32, INT64, ...)"
    numeric = tensor.datatype.startswith("FP") if encoded else tensor.datatype in v2.NUMERIC
    if not numeric:
        extra = f"BYTES (encoded {ENCODED_KINDS[kind]}) or " if encoded else ""
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
    return list(array), replica.runtime.tensor


def _v2_outputs(
    replica: Replica, outputs: list[Any], wanted: list[str] | None
) -> list[v2.V2Output]:
    if replica.model.regression:
        values = np.asarray(outputs, dtype=np.float32)
        available = {"value": v2.V2Output("value", "FP32", values)}
    elif replica.model.ranking:
        available = _recommended(replica.model.labels, np.stack(outputs))
    elif replica.model.detection:
        available = _detected(replica.model.labels, outputs, replica.model.preprocessing.min_score)
    else:
        probabilities = np.stack(outputs)
        labels = [replica.model.labels[i] for i in probabilities.argmax(1).tolist()]
        available = {
            "probabilities": v2.V2Output("probabilities", "FP32", probabilities),
            "label": v2.V2Output("label", "BYTES", labels),
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


def _recommended(items: list[str], scores: np.ndarray) -> dict[str, v2.V2Output]:
    """The RECOMMENDED best unseen items per user, and their scores: [N, k] each. A user
    who has seen nearly everything gets fewer, padded with "" and a score of 0."""
    k = min(RECOMMENDED, scores.shape[1])
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    best = np.take_along_axis(scores, order, axis=1)
    found = np.isfinite(best)
    names = [items[i] if ok else "" for i, ok in zip(order.flat, found.flat, strict=True)]
    return {
        "items": v2.V2Output("items", "BYTES", names, dims=list(order.shape)),
        "scores": v2.V2Output("scores", "FP32", np.where(found, best, 0).astype(np.float32)),
    }


def _detected(labels: list[str], outputs: list[Any], min_score: float) -> dict[str, v2.V2Output]:
    """Per image, its detections scoring at least `min_score`, best first: boxes [N, K, 4]
    (x0, y0, x1, y1 in the image's pixels), labels and scores [N, K], and num_detections
    [N]; K is the most any image has, and the rows past an image's own count are padding
    (boxes and scores 0, label "")."""
    found = [detections(rows, labels, min_score) for rows in outputs]
    k = max((len(f) for f in found), default=0)
    boxes = np.zeros((len(found), k, 4), dtype=np.float32)
    scores = np.zeros((len(found), k), dtype=np.float32)
    names = [[""] * k for _ in found]
    for n, image in enumerate(found):
        for j, detection in enumerate(image):
            boxes[n, j], scores[n, j] = detection["box"], detection["score"]
            names[n][j] = detection["label"]
    return {
        "boxes": v2.V2Output("boxes", "FP32", boxes),
        "labels": v2.V2Output(
            "labels", "BYTES", [n for row in names for n in row], dims=[len(found), k]
        ),
        "scores": v2.V2Output("scores", "FP32", scores),
        "num_detections": v2.V2Output(
            "num_detections", "INT32", np.array([len(f) for f in found], dtype=np.int32)
        ),
    }


def _metadata(name: str, version: str, replica: Replica) -> dict[str, Any]:
    kind = replica.model.preprocessing.kind
    shape = replica.runtime.input_shape
    if kind in BYTES_ONLY:
        inputs = [{"name": "input", "datatype": "BYTES", "shape": [-1]}]
    elif kind in ENCODED_KINDS:
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
    elif replica.model.ranking:
        outputs = [
            {"name": "items", "datatype": "BYTES", "shape": [-1, RECOMMENDED]},
            {"name": "scores", "datatype": "FP32", "shape": [-1, RECOMMENDED]},
        ]
    elif replica.model.detection:
        outputs = [
            {"name": "boxes", "datatype": "FP32", "shape": [-1, -1, 4]},
            {"name": "labels", "datatype": "BYTES", "shape": [-1, -1]},
            {"name": "scores", "datatype": "FP32", "shape": [-1, -1]},
            {"name": "num_detections", "datatype": "INT32", "shape": [-1]},
        ]
    else:
        classes = len(replica.model.labels)
        outputs = [
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, classes]},
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
        ]
    return {
        "name": name,
        "versions": [version],
        "platform": replica.runtime.platform,
        "inputs": inputs,
        "outputs": outputs,
        "parameters": {"labels": replica.model.labels, "dataset_type": replica.model.kind.value},
    }
