"""A deployment's endpoints, for applications: the simple API and the Open Inference
Protocol, forwarded to its ready replicas by the gateway.

These sit outside the token-checked API router: a public deployment takes calls
without a token, and a deployment's own token is good here and nowhere else."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from fermion.errors import FermionError, NotFound
from fermion.server.deps import BearerDep, get_gateway, request_token
from fermion.serving.bodies import MAX_REQUEST_MB, read_body

router = APIRouter(prefix="/api/v1/deployments/{name}", tags=["inference"])
LIMIT = int(MAX_REQUEST_MB * 2**20)
V2_SEGMENT = re.compile(r"(?!\.\.?$)[A-Za-z0-9_.\-]+")  # names and verbs; no %, no . or ..


async def authorize(name: str, request: Request, credentials: BearerDep) -> str:
    """The deployment may be called by this caller: it is public, or the token is of
    someone in its workspace (or an admin's), or the deployment's own."""
    await get_gateway(request).access.check(name, request_token(request, credentials))
    return name


Authorized = Annotated[str, Depends(authorize)]


async def _forward(request: Request, name: str, path: str) -> Response:
    body = await read_body(request, LIMIT) if request.method == "POST" else b""
    answer = await get_gateway(request).forward(
        name, request.method, path, body, dict(request.headers), request.url.query
    )
    return answer.response()


@router.post("/predict")
async def predict(request: Request, name: Authorized) -> Response:
    """{"inputs": [...]} (base64 images, strings, records) or multipart files -> top-k labels."""
    return await _forward(request, name, "predict")


@router.post("/explain")
async def explain(request: Request, name: Authorized) -> Response:
    """{"input": ..., "target": ..., "method": ...} -> why the model answers that input
    as it does (attributions per pixel, token or feature), from a replica."""
    return await _forward(request, name, "explain")


@router.get("/v2/health/live")
async def v2_live(name: Authorized) -> dict[str, bool]:
    return {"live": True}


@router.get("/v2/health/ready")
async def v2_ready(request: Request, name: Authorized) -> Response:
    ready = get_gateway(request).has_ready(name)
    return JSONResponse({"ready": ready}, status_code=200 if ready else 503)


@router.get("/v2/{path:path}", operation_id="v2_read")
@router.post("/v2/{path:path}", operation_id="v2_infer")
async def v2(request: Request, path: str, name: Authorized) -> Response:
    """The Open Inference Protocol (KServe V2): model metadata, readiness, infer."""
    try:
        if not all(V2_SEGMENT.fullmatch(part) for part in path.split("/")):
            # Forwarded as is, /v2/%2e%2e/metrics (or %252e%252e, decoded once here and
            # once more by the HTTP client) would reach the replica's /metrics.
            raise NotFound(f"no V2 path /v2/{path}; see /v2/models/{name}")
        return await _forward(request, name, f"v2/{path}")
    except FermionError as exc:  # V2 clients read {"error": message}
        return JSONResponse({"error": exc.message}, status_code=exc.status)
