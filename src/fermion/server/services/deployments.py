"""Deployments: what should be served, by how many replicas. The rows say what is
wanted; the controller (deployment_controller.py) makes the replica jobs match it, and
the gateway (server/gateway.py) sends traffic to the ready ones."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from fermion.errors import CapacityExceeded, Conflict, Forbidden, NotFound
from fermion.payloads import (
    Autoscaling,
    DeploymentCreate,
    DeploymentPublic,
    DeploymentsPublic,
    DeploymentToken,
    JobStatus,
    ReplicaPublic,
)
from fermion.refs import format_ref, parse_ref
from fermion.resources import Resources, format_memory, parse_memory, readable_memory
from fermion.scheduler import quota
from fermion.scheduler.scheduler import Scheduler, now
from fermion.server.services import jobs, models
from fermion.server.services.auth import issue_token
from fermion.server.services.deployment_controller import cannot_load, failed_load
from fermion.serving.runtimes import runtime_for
from fermion.store.context import ServerContext
from fermion.store.tables import DeploymentRow, JobRow, ModelVersionRow, ReplicaRow, User
from fermion.store.tenancy import ALL_WORKSPACES, WorkspaceRow, entered


# -- reading ----------------------------------------------------------------------------
def replica_state(replica: ReplicaRow) -> str:
    job = replica.job
    status = JobStatus(job.status)
    if job.cancel_requested and not status.is_terminal:
        return "stopping"
    if status is JobStatus.QUEUED:
        return "restarting" if job.attempt else "queued"
    if status.is_terminal:
        return "failed" if cannot_load(replica) else "stopped"
    if replica.endpoint is None or replica.endpoint_attempt != job.attempt:
        return "starting"
    return "ready" if replica.ready else "loading"


def live_replicas(row: DeploymentRow) -> list[ReplicaRow]:
    """Replicas that serve or will serve: not ended, not being stopped."""
    return [
        r
        for r in row.replica_rows
        if not JobStatus(r.job.status).is_terminal and not r.job.cancel_requested
    ]


def status_of(row: DeploymentRow) -> str:
    live = live_replicas(row)
    current = [r for r in live if r.model_version_id == row.model_version_id]
    ready = [r for r in current if replica_state(r) == "ready"]
    if row.replicas == 0:
        return "idle" if row.autoscaling else "stopped"  # idle: the next request wakes it
    if failed_load(row):
        return "failed"
    if len(current) < len(live):
        return "updating"
    if len(ready) == row.replicas == len(live):
        return "ready"
    if not ready:
        return "starting" if all(r.job.attempt <= 1 for r in live) else "unavailable"
    return "scaling" if len(live) != row.replicas else "degraded"


def to_public(context: ServerContext, row: DeploymentRow) -> DeploymentPublic:
    details = [
        ReplicaPublic(
            job_id=r.job_id,
            model=format_ref(r.model_version.model.name, r.model_version.version),
            state=replica_state(r),
            endpoint=r.endpoint,
            attempt=r.job.attempt,
            restarts=max(0, r.job.attempt - 1),
            reason=r.job.failure_reason if r.job.attempt > 1 or cannot_load(r) else None,
        )
        for r in row.replica_rows
        if not JobStatus(r.job.status).is_terminal or cannot_load(r)
    ]
    return DeploymentPublic(
        name=row.name,
        model=format_ref(row.model_version.model.name, row.model_version.version),
        status=status_of(row),
        replicas=row.replicas,
        ready_replicas=sum(1 for d in details if d.state == "ready"),
        cpu=row.cpu,
        memory=format_memory(row.memory_bytes),
        max_batch_size=row.max_batch_size,
        max_batch_delay_ms=row.max_batch_delay_ms,
        public=row.public,
        runtime=row.runtime,
        autoscaling=row.autoscaling,
        scale_events=row.scale_events or [],
        url=f"{context.settings.server_url}/api/v1/deployments/{row.name}",
        replica_details=details,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def find(session: Session, name: str) -> DeploymentRow:
    row = session.scalar(select(DeploymentRow).where(DeploymentRow.name == name))
    if row is None:
        raise NotFound(f"deployment {name!r} not found; `fermion deployment list` shows them")
    return row


def list_deployments(context: ServerContext, session: Session) -> DeploymentsPublic:
    query = select(DeploymentRow).order_by(DeploymentRow.name)
    data = [to_public(context, row) for row in session.scalars(query)]
    return DeploymentsPublic(data=data, count=len(data))


# -- capacity -------------------------------------------------------------------------
def replica_resources(row: DeploymentRow) -> Resources:
    return Resources(cpu=row.cpu, gpu=0, memory=row.memory_bytes)


def check_room(
    scheduler: Scheduler, session: Session, need: Resources, what: str, replicas: int = 0
) -> None:
    """Refuse what cannot fit beside the jobs and replicas that run now, on the server
    and within its workspace's quota."""
    capacity = scheduler.executor.capacity()
    free = capacity - scheduler.used(session)
    if not need.fits_in(free):
        raise CapacityExceeded(
            f"{what} needs {need.describe()}, but only cpu={max(free.cpu, 0):g},"
            f" gpu={max(free.gpu, 0)}, memory={readable_memory(max(free.memory, 0))} of"
            f" {capacity.describe()} is free; ask for less (--cpu, --memory, --replicas) or"
            " stop something"
        )
    workspace = session.get(WorkspaceRow, entered(session)) if entered(session) else None
    if workspace is not None and workspace.quota:
        usage = quota.usage_by_workspace(session)[workspace.id]
        short = quota.room(workspace.quota, usage, need, replicas=replicas, jobs=0)
        if short:
            raise CapacityExceeded(
                f"{what} would take workspace {workspace.name} past its quota:"
                f" {', '.join(short)}; ask for less, or ask an admin to raise it"
                f" (fermion workspace quota {workspace.name} ...)"
            )


def _times(resources: Resources, n: int) -> Resources:
    return Resources(cpu=resources.cpu * n, gpu=resources.gpu * n, memory=resources.memory * n)


# -- changing ---------------------------------------------------------------------------
def create(
    context: ServerContext,
    scheduler: Scheduler,
    session: Session,
    user: User,
    request: DeploymentCreate,
) -> DeploymentPublic:
    if session.scalar(select(DeploymentRow).where(DeploymentRow.name == request.name)):
        raise Conflict(
            f"deployment {request.name!r} exists; `fermion deployment update"
            f" {request.name} --model ...` changes its model, or pick another name"
        )
    taken = select(DeploymentRow.id).where(DeploymentRow.name == request.name)
    if session.scalar(taken.execution_options(**{ALL_WORKSPACES: True})):
        raise Conflict(
            f"the name {request.name!r} is taken on this server: a deployment's name is its"
            " endpoint's address, unique across workspaces; pick another"
        )
    name, version = parse_ref(request.model, kind="model")
    model_version = models.get_version(session, name, version)
    replicas = _starting_replicas(request.replicas, request.autoscaling)
    one = Resources(cpu=request.cpu, gpu=0, memory=parse_memory(request.memory))
    what = f"{replicas} replica(s) of {request.name}"
    jobs.check_fits_nodes(scheduler, one, 1, "each replica")
    check_room(scheduler, session, _times(one, replicas), what, replicas=replicas)
    # Made only now: a row linked to the model version joins the session at once, and a
    # query before `add` would flush it half-built.
    row = DeploymentRow(
        name=request.name,
        owner_id=user.id,
        model_version=model_version,
        replicas=replicas,
        autoscaling=request.autoscaling.model_dump() if request.autoscaling else None,
        cpu=request.cpu,
        memory_bytes=one.memory,
        max_batch_size=request.max_batch_size,
        max_batch_delay_ms=request.max_batch_delay_ms,
        public=request.public,
        runtime=runtime_for(_is_keras(model_version), request.runtime, request.model),
    )
    session.add(row)
    session.commit()
    scheduler.wake()
    return to_public(context, row)


def _is_keras(version: ModelVersionRow) -> bool:
    return (version.config or {}).get("framework") == "keras"


def _starting_replicas(replicas: int, bounds: Autoscaling | None) -> int:
    """Where an autoscaled deployment starts: as asked, within its bounds (a minimum of 0
    still starts with one, so that the deployment is tried at once)."""
    if bounds is None:
        return replicas
    return min(max(replicas, bounds.min_replicas, 1), bounds.max_replicas)


def set_autoscaling(
    context: ServerContext,
    scheduler: Scheduler,
    session: Session,
    row: DeploymentRow,
    bounds: Autoscaling | None,
) -> DeploymentPublic:
    """New bounds (the replicas brought within them at once), or none: the replica count
    stays where it is, set by hand from now on."""
    row.autoscaling = bounds.model_dump() if bounds else None
    if bounds is not None:
        within = min(max(row.replicas, bounds.min_replicas), bounds.max_replicas)
        if within > row.replicas:
            more = within - row.replicas
            need = _times(replica_resources(row), more)
            check_room(scheduler, session, need, f"{more} more replica(s) of {row.name}", more)
        row.replicas = within
    row.updated_at = now()
    session.commit()
    scheduler.wake()
    return to_public(context, row)


def scale(
    context: ServerContext,
    scheduler: Scheduler,
    session: Session,
    row: DeploymentRow,
    replicas: int,
) -> DeploymentPublic:
    if row.autoscaling:
        bounds = Autoscaling.model_validate(row.autoscaling)
        raise Conflict(
            f"deployment {row.name} scales itself between {bounds.min_replicas} and"
            f" {bounds.max_replicas} replicas; change that with `fermion deployment autoscale"
            f" {row.name} --min-replicas ... --max-replicas ...`, or `--off` to scale by hand"
        )
    more = replicas - len(live_replicas(row))
    if more > 0:
        check_room(
            scheduler,
            session,
            _times(replica_resources(row), more),
            f"{more} more replica(s) of {row.name}",
            replicas=more,
        )
    row.replicas = replicas
    row.updated_at = now()
    session.commit()
    scheduler.wake()
    return to_public(context, row)


def update(
    context: ServerContext, scheduler: Scheduler, session: Session, row: DeploymentRow, model: str
) -> DeploymentPublic:
    name, version = parse_ref(model, kind="model")
    target = models.get_version(session, name, version)
    current = row.model_version
    if target.model.type != current.model.type:
        raise Conflict(
            f"{format_ref(name, target.version)} is a {target.model.type} model;"
            f" {row.name} serves {current.model.type}: deploy it separately"
        )
    if row.replicas == 1:
        try:  # a roll starts the new replica before the old one stops
            check_room(scheduler, session, replica_resources(row), "the rolling update", 1)
        except CapacityExceeded as exc:
            raise CapacityExceeded(
                f"{exc.message}. With one replica, the update needs room for a second one"
                " while it rolls, or there would be no replica to serve meanwhile"
            ) from None
    keras = _is_keras(target)
    row.runtime = runtime_for(keras, "torch" if row.runtime == "keras" else row.runtime, model)
    row.model_version = target
    row.updated_at = now()
    session.commit()
    scheduler.wake()
    return to_public(context, row)


def delete(scheduler: Scheduler, session: Session, row: DeploymentRow) -> None:
    for replica in row.replica_rows:
        if not JobStatus(replica.job.status).is_terminal:
            replica.job.cancel_requested = True
            if replica.job.status == JobStatus.QUEUED.value:
                replica.job.status = JobStatus.CANCELLED.value
                replica.job.finished_at = now()
    session.delete(row)
    session.commit()
    scheduler.wake()


def deployment_token(session: Session, row: DeploymentRow, user: User) -> DeploymentToken:
    token = issue_token(session, user, f"deployment {row.name}", deployment_id=row.id)
    session.commit()
    return DeploymentToken(deployment=row.name, token=token)


# -- replicas reporting in ---------------------------------------------------------------
def serving_replicas(session: Session) -> list[tuple[int, str, str, str | None]]:
    """(replica id, deployment name, endpoint, key) of every replica the gateway may
    route to once its probe says it is ready: running its current attempt, not being
    stopped."""
    rows = session.execute(
        select(ReplicaRow.id, DeploymentRow.name, ReplicaRow.endpoint, ReplicaRow.key)
        .join(JobRow, ReplicaRow.job_id == JobRow.id)
        .join(DeploymentRow, ReplicaRow.deployment_id == DeploymentRow.id)
        .where(
            JobRow.status == JobStatus.RUNNING.value,
            JobRow.cancel_requested.is_(False),
            ReplicaRow.endpoint.is_not(None),
            ReplicaRow.endpoint_attempt == JobRow.attempt,
        )
    ).all()
    return [tuple(row) for row in rows]


def record_readiness(session: Session, changed: dict[int, bool]) -> None:
    """What the gateway's probes found, by replica id."""
    for replica_id, ready in changed.items():
        row = session.get(ReplicaRow, replica_id)
        if row is not None:
            row.ready = ready
    session.commit()


def set_endpoint(session: Session, job: JobRow, url: str, key: str | None) -> None:
    replica = session.scalar(select(ReplicaRow).where(ReplicaRow.job_id == job.id))
    if replica is None:
        raise Forbidden(f"job {job.id} is not a replica of a deployment")
    replica.endpoint = url
    replica.key = key
    replica.endpoint_attempt = job.attempt
    replica.ready = False  # until the gateway's probe of /readyz says otherwise
    session.commit()
