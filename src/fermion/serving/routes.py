"""The replica's own routes: health, readiness, Prometheus metrics, and the simple API
(`POST /predict` with {"inputs": [...]} as JSON or multipart files)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from fermion.errors import InvalidInput
from fermion.modelfile.decoding import detections, top_k
from fermion.payloads import ExplainCreate
from fermion.serving.bodies import parse_body, read_body
from fermion.serving.state import ReplicaState, batch_headers, replica_state

router = APIRouter()
RECOMMENDED = 10  # items per recommendation, unless ?top_k= says otherwise
State = Annotated[ReplicaState, Depends(replica_state)]


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(state: State) -> JSONResponse:
    if state.replica is None:
        return JSONResponse(
            {"status": "not ready", "reason": state.error or "loading"}, status_code=503
        )
    return JSONResponse({"status": "ready", "model": state.options.model})


@router.get("/metrics")
async def prometheus(state: State) -> Response:
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.post("/predict")
async def predict(request: Request, state: State) -> Response:
    with state.observing("predict"):
        replica = state.ready()
        if replica.model.detection:  # a bad query is refused before any work
            min_score = _min_score(request, replica.model.preprocessing.min_score)
        with replica.batcher.arrival() as arrival:
            values = await _predict_inputs(request, state.limit)
            items = await replica.prepare(values, replica.runtime.prepare)
            submitted = await replica.predict(items, arrival)
        if replica.model.ranking:
            from fermion.modelfile.recommenders import recommendation  # torch replicas only

            k = _top_k(request, RECOMMENDED)
            predictions = [
                recommendation(replica.model.network, user, scores, replica.model.labels, k)
                for user, scores in zip(items, submitted.outputs, strict=True)
            ]
        elif replica.model.detection:
            labels = replica.model.labels
            predictions = [
                {"detections": detections(rows, labels, min_score)} for rows in submitted.outputs
            ]
        elif replica.model.regression:
            predictions = [{"value": value} for value in submitted.outputs]
        else:
            k = _top_k(request, state.options.top_k)
            predictions = [top_k(p, replica.model.labels, k) for p in submitted.outputs]
        return Response(
            orjson.dumps({"model": state.options.model, "predictions": predictions}),
            media_type="application/json",
            headers=batch_headers(submitted),
        )


@router.post("/explain")
async def explain(request: Request, state: State) -> Response:
    """{"input": ..., "target": ..., "method": ...} -> why the model answers it so."""
    with state.observing("explain"):
        replica = state.ready()
        body = parse_body(ExplainCreate, await read_body(request, state.limit))
        explainer = replica.explainer()
        async with replica.explaining:
            found = await asyncio.to_thread(explainer.explain, body.input, body.target, body.method)
        return Response(found.model_dump_json(), media_type="application/json")


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


def _min_score(request: Request, default: float) -> float:
    """The lowest score a detection shown has: ?min_score=, or the model's own."""
    text = request.query_params.get("min_score")
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise InvalidInput(f"min_score must be a number from 0 to 1, not {text!r}")
    return value
