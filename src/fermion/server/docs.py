"""The API's own description: the OpenAPI schema (/openapi.json) and its browsable docs
(/docs). They list every route and body, which is a map for an attacker as much as for
a user, so by default only a signed-in caller (a token, or the dashboard's session) gets
them; FERMION_DOCS=public serves them to anyone, off to no one."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from fermion.server.deps import get_caller

FASTAPI_OWN_OFF = {"openapi_url": None, "docs_url": None, "redoc_url": None}


def install(app: FastAPI, mode: str) -> None:
    """`app` was made with FastAPI's own docs routes off; add them as `mode` says."""
    if mode == "off":
        return
    guard = [] if mode == "public" else [Depends(get_caller)]

    @app.get("/openapi.json", include_in_schema=False, dependencies=guard)
    def openapi() -> dict[str, Any]:
        return app.openapi()

    @app.get("/docs", include_in_schema=False, dependencies=guard)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} API")
