"""A replica started by the platform answers its gateway only: every request must carry
the key the replica made at start and registered with the platform (X-Fermion-Replica-Key),
which only the gateway reads back. Without it, anyone on the machine could call the
replica's port directly, past the platform's tokens, workspaces and audit. A replica run
by hand (no job, `--model-dir`) makes no key and answers anyone who reaches its port,
like any model server one runs oneself."""

from __future__ import annotations

import hmac
import json
import secrets

from starlette.types import ASGIApp, Receive, Scope, Send

HEADER = b"x-fermion-replica-key"


def new_key() -> str:
    return secrets.token_urlsafe(32)


class RequireKey:
    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app = app
        self.key = key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope["headers"]).get(HEADER, b"")
            if not hmac.compare_digest(given, self.key):
                await _refuse(send)
                return
        await self.app(scope, receive, send)


async def _refuse(send: Send) -> None:
    body = json.dumps(
        {
            "error": "UNAUTHORIZED",
            "message": "this replica answers its deployment's gateway only: call"
            " /api/v1/deployments/NAME/... on the Fermion server",
        }
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})
