"""Federated training: create (checked, and planned from the sites' dataset metadata),
show, list, cancel. A federation is a coordinator job (Flower's SuperLink and the
ServerApp) and one job per site, each isolated and limited to its own dataset; the
federation controller (federation_controller.py) follows them on the scheduler's passes."""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fermion.errors import CapacityExceeded, Conflict, FermionError, InvalidInput, NotFound
from fermion.payloads import (
    DatasetType,
    FederationCreate,
    FederationPlan,
    FederationPublic,
    FederationSitePublic,
    FederationsPublic,
    JobStatus,
)
from fermion.refs import format_ref, parse_ref
from fermion.resources import Resources
from fermion.scheduler.scheduler import Scheduler, now
from fermion.server.services import datasets, jobs
from fermion.store.context import ServerContext
from fermion.store.tables import DatasetVersionRow, FederationRow, JobRow, ModelRow, User
from fermion.training.config import check_model_name, defaults_for

FEDERATED_TYPES = (DatasetType.IMAGE_CLASSIFICATION,)
COORDINATOR = {"cpu": 0.5, "memory": "1Gi"}  # the SuperLink and ServerApp: light
SITE_MEMORY = "2Gi"


def create(
    context: ServerContext,
    session: Session,
    scheduler: Scheduler,
    user: User,
    request: FederationCreate,
) -> FederationPublic:
    if session.scalar(select(FederationRow).where(FederationRow.name == request.name)):
        raise Conflict(f"a federation named {request.name!r} exists; pick another name")
    versions = {site: _dataset(session, site, ref) for site, ref in request.sites.items()}
    plan = make_plan(request, versions)
    _check_model_name(session, request.name, plan.dataset_type)
    _check_fits(scheduler, user, request)
    coordinator = jobs.submit_builtin(
        context, scheduler, session, user, "federate", "fermion.federated.coordinator",
        plan.model_dump(mode="json"), name=request.name, **COORDINATOR,
    )  # fmt: skip
    sites = []
    for site, dataset in plan.sites.items():
        own = plan.model_copy(update={"site": site, "dataset": dataset})
        job = jobs.submit_builtin(
            context, scheduler, session, user, "federate-site", "fermion.federated.site",
            own.model_dump(mode="json"), name=f"{request.name}-{site}"[:64],
            cpu=request.cpu or 1.0, memory=request.memory or SITE_MEMORY,
            scope={"datasets": [dataset]},
        )  # fmt: skip
        sites.append({"site": site, "dataset": dataset, "job_id": job.id})
    row = FederationRow(
        name=request.name,
        owner_id=user.id,
        spec=request.model_dump(mode="json") | {"model": plan.model, "superlink": plan.superlink},
        sites=sites,
        coordinator_job_id=coordinator.id,
        status="running",
    )
    session.add(row)
    session.commit()
    return public(session, row)


def _dataset(session: Session, site: str, ref: str) -> DatasetVersionRow:
    name, version = parse_ref(ref)
    found = datasets.get_version(session, name, version)
    if DatasetType(found.dataset.type) not in FEDERATED_TYPES:
        raise InvalidInput(
            f"site {site}: {format_ref(name, found.version)} is {found.dataset.type} data;"
            f" federated training takes {', '.join(t.value for t in FEDERATED_TYPES)} datasets"
        )
    if not found.split_counts.get("train") or not found.split_counts.get("validation"):
        raise InvalidInput(
            f"site {site}: {format_ref(name, found.version)} needs records in its train and"
            " validation splits"
        )
    return found


def make_plan(request: FederationCreate, versions: dict[str, DatasetVersionRow]) -> FederationPlan:
    """What every party works from, out of the sites' metadata: the union of their
    classes, their common image size, and their pixel statistics averaged by size."""
    sides = {site: v.spec["image_size"][0] for site, v in versions.items()}
    if len(set(sides.values())) > 1:
        shown = ", ".join(f"{site} {side}px" for site, side in sides.items())
        raise InvalidInput(f"the sites' images differ in size ({shown}); give them one size")
    counts = {site: v.split_counts["train"] for site, v in versions.items()}
    total = sum(counts.values())
    channels = len(next(iter(versions.values())).spec["mean"])

    def averaged(key: str) -> list[float]:
        return [
            sum(v.spec[key][c] * counts[site] for site, v in versions.items()) / total
            for c in range(channels)
        ]

    kind = DatasetType(next(iter(versions.values())).dataset.type)
    side = next(iter(sides.values()))
    model = request.model or defaults_for(kind, side)["model"]
    check_model_name(kind, model)
    port = request.port or _free_port()
    return FederationPlan(
        name=request.name,
        dataset_type=kind.value,
        model=model,
        classes=sorted({c for v in versions.values() for c in v.class_names}),
        image_size=side,
        mean=averaged("mean"),
        std=averaged("std"),
        rounds=request.rounds,
        local_epochs=request.local_epochs,
        batch_size=request.batch_size,
        lr=request.lr,
        weight_decay=request.weight_decay,
        strategy=request.strategy,
        proximal_mu=request.proximal_mu if request.strategy == "fedprox" else 0.0,
        privacy=request.privacy,
        seed=request.seed,
        sites={site: format_ref(v.dataset.name, v.version) for site, v in versions.items()},
        superlink=f"127.0.0.1:{port}",
        site_address=request.site_address,
        round_timeout_s=request.round_timeout_s,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _check_model_name(session: Session, name: str, kind: str) -> None:
    model = session.scalar(select(ModelRow).where(ModelRow.name == name))
    if model is not None and model.versions and model.type != kind:
        raise Conflict(
            f"the global model is registered as {name!r}, a {model.type} model;"
            " pick another federation name"
        )


def _check_fits(scheduler: Scheduler, user: User, request: FederationCreate) -> None:
    """Every party runs at once (the rounds wait for all sites): the whole federation
    must fit in the platform's capacity, or it would wait for ever."""
    site = jobs.wanted_resources(user, 1, request.cpu or 1.0, 0, request.memory or SITE_MEMORY)
    coordinator = jobs.wanted_resources(user, 1, COORDINATOR["cpu"], 0, COORDINATOR["memory"])
    n = len(request.sites)
    whole = Resources(
        cpu=coordinator.cpu + n * site.cpu, gpu=0, memory=coordinator.memory + n * site.memory
    )
    capacity = scheduler.executor.capacity()
    if not whole.fits_in(capacity):
        raise CapacityExceeded(
            f"the federation's {n} sites and coordinator run at once and need"
            f" {whole.describe()}, more than this platform's capacity ({capacity.describe()});"
            " give each site less (--cpu, --memory), or start the server with more"
        )


def get(session: Session, name: str) -> FederationRow:
    row = session.scalar(select(FederationRow).where(FederationRow.name == name))
    if row is None:
        raise NotFound(f"federation {name!r} not found; `fermion federate list` shows them")
    return row


def list_federations(session: Session) -> FederationsPublic:
    rows = session.scalars(select(FederationRow).order_by(FederationRow.id.desc())).all()
    return FederationsPublic(data=[public(session, r) for r in rows], count=len(rows))


def stop_jobs(session: Session, scheduler: Scheduler, row: FederationRow) -> None:
    """Cancel the federation's jobs that still run: its sites, and its coordinator."""
    ids = [s["job_id"] for s in row.sites] + [row.coordinator_job_id]
    for job_id in ids:
        job = session.get(JobRow, job_id) if job_id is not None else None
        if job is not None and not JobStatus(job.status).is_terminal:
            with contextlib.suppress(FermionError):
                jobs.cancel(session, scheduler, job)


def ended(row: FederationRow, status: str, reason: str | None) -> None:
    row.status, row.reason, row.finished_at = status, reason, now()


def cancel(session: Session, scheduler: Scheduler, row: FederationRow) -> FederationPublic:
    if row.status != "running":
        raise Conflict(f"federation {row.name} has already {row.status}; nothing to cancel")
    ended(row, "cancelled", "cancelled")
    session.commit()
    stop_jobs(session, scheduler, row)
    session.commit()
    return public(session, row)


def public(session: Session, row: FederationRow) -> FederationPublic:
    spec = FederationCreate.model_validate(
        {k: v for k, v in row.spec.items() if k in FederationCreate.model_fields}
    )
    sites = []
    for site in row.sites:
        job = session.get(JobRow, site["job_id"]) if site["job_id"] is not None else None
        sites.append(
            FederationSitePublic(
                site=site["site"],
                dataset=site["dataset"],
                job_id=job.id if job else None,
                status=job.status if job else None,
            )
        )
    options: dict[str, Any] = spec.model_dump(
        include={"local_epochs", "batch_size", "lr", "weight_decay", "proximal_mu", "seed"}
    )
    return FederationPublic(
        id=row.id,
        name=row.name,
        status=row.status,
        sites=sites,
        coordinator_job_id=row.coordinator_job_id,
        rounds=spec.rounds,
        strategy=spec.strategy,
        model_type=row.spec["model"],
        privacy=spec.privacy,
        model=row.model,
        options=options | {"superlink": row.spec.get("superlink")},
        reason=row.reason,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )
