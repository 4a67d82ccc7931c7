"""The FastAPI application: health at /healthz, the REST API under /api/v1."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy.orm import Session

from fermion import __version__
from fermion.datasets import image_check
from fermion.error_responses import install_error_handlers
from fermion.errors import InvalidInput
from fermion.resources import Resources, parse_capacity
from fermion.scheduler import confinement
from fermion.scheduler.executor import Executor
from fermion.scheduler.local import LocalExecutor
from fermion.scheduler.scheduler import Scheduler
from fermion.server import docs
from fermion.server.audit import AuditLog
from fermion.server.body_limit import JsonBodyLimit
from fermion.server.deps import get_caller, get_principal
from fermion.server.edge import InferenceEdge
from fermion.server.gateway import Gateway
from fermion.server.routes import (
    audit,
    dashboard,
    datasets,
    deployments,
    endpoints,
    federations,
    health,
    jobs,
    models,
    secrets,
    session,
    sweeps,
    tokens,
    uploads,
    users,
    workspaces,
)
from fermion.server.services import encryption
from fermion.server.services.auth import bootstrap_admin, issue_token
from fermion.server.services.autoscaler import Autoscaler, LoadMeter
from fermion.server.services.deployment_controller import DeploymentController
from fermion.server.services.federation_controller import FederationController
from fermion.server.services.sweep_controller import SweepController
from fermion.settings import Settings, load_settings
from fermion.store.context import ServerContext

log = logging.getLogger("fermion.server")
# The API's resources, each a routes module under /api/v1 behind a token, acting in one
# workspace; then those about the caller's account, which belong to no workspace.
RESOURCES = (
    datasets,
    deployments,
    federations,
    jobs,
    models,
    secrets,
    sweeps,
    uploads,
)
ACCOUNT = (audit, tokens, users, workspaces)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import datasets as hf

        hf.disable_progress_bars()
        threading.Thread(target=image_check.start_worker_server, daemon=True).start()
        context = ServerContext.open(settings)
        bootstrap_admin(context.metadata, settings)
        app.state.context = context
        scheduler = Scheduler(context, make_executor(settings), issue_token=issue_token)
        meter = LoadMeter()  # requests in flight, counted by the gateway
        add_controllers(context, scheduler, meter)
        app.state.scheduler = scheduler
        app.state.scheduler.start()
        app.state.gateway = Gateway(context, meter)
        await app.state.gateway.start()
        _write_pid(settings)
        log.info("Fermion %s serving at %s", __version__, settings.server_url)
        log.info("job isolation: %s", confinement.describe_mode(settings))
        try:
            yield
        finally:
            await app.state.gateway.stop()
            app.state.scheduler.stop()
            context.close()
            _remove_pid(settings)

    app = FastAPI(
        title="Fermion",
        version=__version__,
        summary="A self-hostable AI platform: datasets, training, models, deployments.",
        lifespan=lifespan,
        **docs.FASTAPI_OWN_OFF,  # served by docs.py, behind a token unless FERMION_DOCS=public
    )
    install_error_handlers(app)
    app.add_middleware(JsonBodyLimit, limit=settings.max_json_mb * 2**20)
    app.add_middleware(InferenceEdge)
    app.add_middleware(AuditLog)  # outermost: it records refusals made by the others too
    app.include_router(health.router)
    api = APIRouter(prefix="/api/v1", dependencies=[Depends(get_principal)])
    for module in RESOURCES:
        api.include_router(module.router)
    app.include_router(api)
    account = APIRouter(prefix="/api/v1", dependencies=[Depends(get_caller)])
    for module in ACCOUNT:
        account.include_router(module.router)
    app.include_router(account)
    app.include_router(endpoints.router)  # checks its own callers: public and deployment tokens
    app.include_router(session.router)  # the dashboard's sign-in
    dashboard.install(app)
    docs.install(app, settings.docs)
    return app


def add_controllers(context: ServerContext, scheduler: Scheduler, meter: LoadMeter) -> None:
    """What runs on every scheduler pass, before queued jobs are admitted: the server's
    own controllers, which turn deployments, sweeps and federations into jobs."""

    def free(session: Session) -> Resources:
        return scheduler.executor.capacity() - scheduler.used(session)

    scheduler.reconcilers.append(DeploymentController(free, Autoscaler(meter, free)).reconcile)
    scheduler.reconcilers.append(SweepController(context, scheduler).reconcile)
    scheduler.reconcilers.append(FederationController(context, scheduler).reconcile)
    scheduler.reconcilers.append(encryption.Resealer(context).reconcile)


def make_executor(settings: Settings) -> Executor:
    if settings.executor == "ray":
        if not settings.ray_address:
            raise InvalidInput(
                "--executor ray needs the cluster's address: --ray-address HOST:PORT"
            )
        if importlib.util.find_spec("ray") is None:
            raise InvalidInput(
                '--executor ray needs Ray where the server runs: pip install "fermion[ray]"'
            )
        from fermion.scheduler.ray_executor import RayExecutor

        return RayExecutor(settings.ray_address, settings.home, grace_s=settings.job_grace_s)
    capacity = parse_capacity(settings.capacity) if settings.capacity else None
    return LocalExecutor(capacity=capacity, grace_s=settings.job_grace_s)


def _write_pid(settings: Settings) -> None:
    import json

    settings.server_pid_path.write_text(
        json.dumps({"pid": os.getpid(), "url": settings.server_url})
    )


def _remove_pid(settings: Settings) -> None:
    import json

    with contextlib.suppress(OSError, ValueError):  # no pid file, or another server's
        info = json.loads(settings.server_pid_path.read_text())
        if info.get("pid") == os.getpid():
            settings.server_pid_path.unlink()
