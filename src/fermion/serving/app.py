"""A replica: one model behind FastAPI, with dynamic batching.

    POST /predict                       {"inputs": [...]} or multipart files -> top-k labels
    GET  /v2/health/live|ready, /v2/models/{name}[/ready], POST /v2/models/{name}/infer
    GET  /healthz  /readyz  /metrics

The model loads in the background once the server is up: /healthz answers at once,
/readyz only when the model is loaded and warmed up (the platform routes traffic to
ready replicas only)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from fermion.error_responses import install_error_handlers
from fermion.serving import routes, v2_routes
from fermion.serving.replica_key import RequireKey
from fermion.serving.runtimes import ModelRuntime
from fermion.serving.state import ReplicaOptions, ReplicaState

__all__ = ["create_replica_app"]


def create_replica_app(
    load: Callable[[], ModelRuntime], options: ReplicaOptions, key: str | None = None
) -> FastAPI:
    """`load` runs once, in a thread, after the server has started. With a `key`, every
    request must carry it (replica_key.py)."""
    state = ReplicaState(load, options)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(state.loading())
        yield
        task.cancel()
        if state.replica is not None:
            await state.replica.batcher.stop()

    app = FastAPI(
        title=f"Fermion replica: {options.model}",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.replica = state
    install_error_handlers(app)
    app.include_router(routes.router)
    app.include_router(v2_routes.router)
    if key is not None:
        app.add_middleware(RequireKey, key=key)
    return app
