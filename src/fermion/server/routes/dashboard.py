"""The web dashboard: static files shipped inside the package, served at `/` by the
same process as the API. The pages call the public REST API only.

A Content-Security-Policy keeps every script, style, image and request on this origin:
nothing is fetched from a CDN, so the dashboard works offline."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parents[2] / "dashboard" / "static"
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline';"
    " img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none';"
    " base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)  # inline styles: the charts and meters set widths and colours in style attributes

router = APIRouter(include_in_schema=False)


HEADERS = {
    "Content-Security-Policy": POLICY,  # the page's policy governs everything it loads
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@router.get("/")
def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers=HEADERS)


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
