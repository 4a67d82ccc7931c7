"""A size limit on the API's JSON bodies: a route reads its body whole and parses it, so
past the limit the request is refused (413) before it is read any further. Uploads
(`/api/v1/uploads`, streamed to disk under their own limit) and a deployment's endpoints
(their own limit, serving/bodies.py) are left alone."""

from __future__ import annotations

import re

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fermion.errors import PayloadTooLarge

LIMITED = re.compile(r"^/api/v1/(?!uploads(?:/|$)|deployments/[^/]+/(?:predict|explain|v2/))")


class JsonBodyLimit:
    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    def too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"the request body is over the API's limit of {self.limit / 2**20:g} MB; files"
            " go through uploads (fermion does this for datasets and code)"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not LIMITED.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:  # refused unread
            error = self.too_large()
            await JSONResponse(error.to_dict(), error.status)(scope, receive, send)
            return
        if declared or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            # A declared length is held to by the HTTP server; these methods send none.
            await self.app(scope, receive, send)
            return
        # No length (chunked): read it here, up to the limit, then hand it on.
        messages, received = [], 0
        while True:
            message = await receive()
            messages.append(message)
            received += len(message.get("body", b""))
            if received > self.limit:
                error = self.too_large()
                await JSONResponse(error.to_dict(), error.status)(scope, receive, send)
                return
            if message["type"] != "http.request" or not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)
