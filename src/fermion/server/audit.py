"""The audit log, as ASGI middleware: every call that may change something (POST, PUT,
PATCH, DELETE under /api/v1, the dashboard's sign-in and sign-out among them) is
recorded once it is answered, refused ones too: who made it, in which workspace, what
(method, path, status), when and from where. Calls to a deployment's endpoints are
inference, not changes, and are left out (their metrics count them).

The dependencies that know the caller leave their name in the request's state (deps.py);
the row is written off the event loop, after the answer has gone."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fermion.server.services import audit

log = logging.getLogger("fermion.server")

AUDITED = re.compile(r"^/api/v1/(?!deployments/[^/]+/(?:predict|explain|v2/))")
CHANGES = {"POST", "PUT", "PATCH", "DELETE"}
ACTOR = "audit_actor"  # keys of the request's state that deps.py sets
WORKSPACE = "audit_workspace"


class AuditLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in CHANGES
            or not AUDITED.match(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        status = 500  # unless an answer starts

        async def answering(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, answering)
        finally:
            await asyncio.to_thread(_record, scope, status)


def _record(scope: Scope, status: int) -> None:
    state: dict[str, Any] = scope.get("state") or {}
    client = scope.get("client")
    try:
        audit.record(
            scope["app"].state.context,
            actor=str(state.get(ACTOR) or "-"),
            workspace=state.get(WORKSPACE),
            method=scope["method"],
            path=scope["path"],
            status=status,
            client=client[0] if client else None,
        )
    except Exception:  # noqa: BLE001 - a lost record is logged; the answer has gone
        log.exception("could not record %s %s in the audit log", scope["method"], scope["path"])
