"""The inference edge: a deployment's busiest paths, answered before FastAPI's router.

`POST /api/v1/deployments/{name}/predict` and `POST .../v2/models/{model}/infer` are
checked (the same access rule as every endpoint, from the gateway's memory), read under
the size limit and forwarded over the gateway's pooled connections, without routing
through the API's hundred routes or solving dependencies per request: that machinery
cost several times the forward itself. Errors read as they do from the routes in
routes/endpoints.py, which document these paths in the OpenAPI schema and serve every
other endpoint path (metadata, health)."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from fermion.errors import FermionError
from fermion.server.deps import bearer, request_token
from fermion.server.gateway import Gateway
from fermion.server.routes.endpoints import LIMIT
from fermion.serving.bodies import read_body

HOT_PATH = re.compile(
    r"/api/v1/deployments/(?P<name>[^/]+)/"
    r"(?P<path>predict|v2/models/[\w.-]+(?:/versions/[\w.-]+)?/infer)",
    re.ASCII,  # no %: an encoded dot would be decoded again on the way to the replica
)


class InferenceEdge:
    """ASGI middleware: the hot paths go to the gateway, everything else to the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = None
        if scope["type"] == "http" and scope["method"] == "POST":
            match = HOT_PATH.fullmatch(scope["path"])
        gateway: Gateway | None = getattr(scope["app"].state, "gateway", None) if match else None
        if gateway is None or ".." in scope["path"].split("/"):
            await self.app(scope, receive, send)
            return
        response = await answer(gateway, Request(scope, receive), match["name"], match["path"])
        await response(scope, receive, send)


async def answer(gateway: Gateway, request: Request, name: str, path: str) -> Response:
    try:
        await gateway.access.check(name, request_token(request, bearer(request)))
    except FermionError as exc:
        return JSONResponse(exc.to_dict(), exc.status)
    try:
        body = await read_body(request, LIMIT)
        query = request.scope["query_string"].decode("latin-1")
        forwarded = await gateway.forward(name, "POST", path, body, request.headers, query)
    except FermionError as exc:  # V2 clients read {"error": message}
        content = {"error": exc.message} if path.startswith("v2/") else exc.to_dict()
        return JSONResponse(content, exc.status)
    return forwarded.response()
