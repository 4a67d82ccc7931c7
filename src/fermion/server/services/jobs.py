"""Jobs: submit, list, show, cancel, retry, logs, metrics. The scheduler runs them."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fermion.errors import CapacityExceeded, Conflict, Forbidden, InvalidInput, NotFound
from fermion.payloads import (
    AttemptPublic,
    JobCreate,
    JobMetrics,
    JobPublic,
    JobsPublic,
    JobStatus,
    MetricPoint,
    MetricValue,
    build,
)
from fermion.resources import Resources, default_job_memory, format_memory, parse_memory, place
from fermion.scheduler import quota
from fermion.scheduler.queue import QueueView
from fermion.scheduler.scheduler import Scheduler, job_files, now
from fermion.server.services import secrets as user_secrets
from fermion.server.services import uploads
from fermion.server.services.auth import Principal
from fermion.store.context import ServerContext
from fermion.store.tables import JobMetricRow, JobRow, ReplicaRow, User, is_row_id
from fermion.store.tenancy import ALL_WORKSPACES, WorkspaceRow, entered


def to_public(
    job: JobRow, queue_position: int | None = None, waiting_for: str | None = None
) -> JobPublic:
    return JobPublic(
        waiting_for=waiting_for,
        id=job.id,
        name=job.name,
        kind=job.kind,
        status=job.status,
        command=job.command,
        nproc=job.nproc,
        nodes=job.nodes,
        cpu=job.cpu,
        gpu=job.gpu,
        memory=format_memory(job.memory_bytes),
        env=job.env,
        secrets=job.secrets or [],
        max_retries=job.max_retries,
        attempt=job.attempt,
        queue_position=queue_position,
        gpu_ids=job.gpu_ids,
        exit_code=job.exit_code,
        failure_reason=job.failure_reason,
        history=[AttemptPublic(**entry) for entry in job.history],
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


BUILTIN_KINDS = ("train", "evaluate", "explain", "export", "import", "federate", "federate-site")


def wanted_resources(
    user: User, nproc: int, cpu: float | None, gpu: int | None, memory: str | None
) -> Resources:
    """What a job gets: what it asks for, else the user's defaults (`fermion config`),
    else the platform's: a CPU per process, no GPU, 1Gi + 2.5Gi per process."""
    defaults = user.job_defaults or {}
    memory = memory or defaults.get("memory")
    return Resources(
        cpu=cpu or defaults.get("cpu") or float(nproc),
        gpu=gpu if gpu is not None else int(defaults.get("gpu") or 0),
        memory=parse_memory(memory) if memory else default_job_memory(nproc),
    )


def submit_builtin(
    context: ServerContext,
    scheduler: Scheduler,
    session: Session,
    user: User,
    kind: str,
    module: str,
    spec: dict[str, Any],
    scope: dict[str, Any] | None = None,
    **request: Any,
) -> JobPublic:
    """Queue one of Fermion's own programs, `python -m MODULE spec.json`, as a job of
    `kind`; `request` holds the JobCreate fields (name, resources, code)."""
    spec_file = f"{kind}.json"
    job_request = build(JobCreate, command=["python", "-m", module, spec_file], **request)
    files = {spec_file: json.dumps(spec, indent=2)}
    return submit(
        context, scheduler, session, user, job_request, kind=kind, files=files, scope=scope
    )


def _check_quota(session: Session, wanted: Resources) -> None:
    """Refuse a job that its workspace's quota could never let start."""
    workspace = session.get(WorkspaceRow, entered(session)) if entered(session) else None
    beyond = quota.beyond(workspace.quota, wanted) if workspace is not None else []
    if beyond:
        raise CapacityExceeded(
            f"the job asks for more than workspace {workspace.name}'s quota allows:"
            f" {', '.join(beyond)}; ask for less, or ask an admin to raise it"
            f" (fermion workspace quota {workspace.name} ...)"
        )


def _check_nodes(scheduler: Scheduler, nodes: int) -> None:
    if nodes > 1 and not scheduler.executor.spans_nodes:
        raise InvalidInput(
            f"--nodes {nodes} needs a cluster, and this server runs jobs on its own machine"
            f" (executor {scheduler.executor.name}); run on one node (--nproc N for several"
            " processes), or start the server on a Ray cluster:"
            " fermion server start --executor ray --ray-address HOST:PORT"
        )


def check_fits_nodes(scheduler: Scheduler, share: Resources, nodes: int, what: str) -> None:
    """Refuse what no `nodes` machines of a cluster hold one by one (the totals may).
    Fewer machines than `nodes` alive: it waits for more (the queue says so)."""
    machines = scheduler.executor.nodes()
    spread = scheduler.executor.spans_nodes
    if spread and len(machines) >= nodes and place(share, nodes, machines) is None:
        sizes = "; ".join(m.describe() for m in machines)
        raise CapacityExceeded(
            f"{what} asks for {share.describe_per_node(nodes)}, and no {nodes} node(s) of the"
            f" cluster have that much each (its nodes: {sizes}); ask for less on each node,"
            " or add bigger nodes"
        )


def _queue_positions(session: Session) -> dict[int, int]:
    """Places in the one queue that all workspaces share."""
    queued = session.scalars(
        select(JobRow.id)
        .where(JobRow.status == JobStatus.QUEUED.value)
        .order_by(JobRow.id)
        .execution_options(**{ALL_WORKSPACES: True})
    ).all()
    return {job_id: position for position, job_id in enumerate(queued, start=1)}


def submit(
    context: ServerContext,
    scheduler: Scheduler,
    session: Session,
    user: User,
    request: JobCreate,
    kind: str = "command",
    files: dict[str, str] | None = None,
    keep_upload: bool = False,
    scope: dict[str, Any] | None = None,
) -> JobPublic:
    """Queue a job; `files` are written into its working directory (a trainer's config).
    Its code's upload is deleted once unpacked, unless kept for more jobs (a sweep's).
    A `scope` limits what its token reaches, and runs it isolated (a federated site)."""
    user_secrets.check_exist(session, request.secrets)
    wanted = wanted_resources(user, request.nproc, request.cpu, request.gpu, request.memory)
    _check_nodes(scheduler, request.nodes)
    capacity = scheduler.executor.capacity()
    if not wanted.times(request.nodes).fits_in(capacity):
        raise CapacityExceeded(
            f"the job asks for {wanted.describe_per_node(request.nodes)}, more than this platform's"
            f" whole capacity ({capacity.describe()}); ask for less, or start the server"
            " with more (fermion server start --capacity cpu=...,gpu=...,memory=...)"
        )
    check_fits_nodes(scheduler, wanted, request.nodes, "the job")
    _check_quota(session, wanted.times(request.nodes))
    job = JobRow(
        name=request.name or default_name(request.command),
        kind=kind,
        owner_id=user.id,
        status=JobStatus.QUEUED.value,
        command=request.command,
        env=request.env,
        secrets=request.secrets or None,
        nproc=request.nproc,
        nodes=request.nodes,
        cpu=wanted.cpu,
        gpu=wanted.gpu,
        memory_bytes=wanted.memory,
        max_retries=request.max_retries,
        attempt=0,
        cancel_requested=False,
        gpu_ids=[],
        history=[],
        scope=scope,
    )
    session.add(job)
    session.flush()  # the id names the job's folder
    job_dir = job_files(context, job.id).create()
    if request.code:
        _unpack_code(context, request.code, job_dir.code, keep_upload)
    for name, text in (files or {}).items():
        (job_dir.code / name).write_text(text)
    session.commit()
    scheduler.wake()
    return show(session, scheduler, job)


def _unpack_code(context: ServerContext, source: str, dest: Path, keep: bool = False) -> None:
    try:
        with tempfile.TemporaryDirectory(dir=context.scratch) as tmp:
            name = uploads.extract(context, source, Path(tmp) / "x")
            shutil.copytree(Path(tmp) / "x" / name, dest, dirs_exist_ok=True, symlinks=True)
    finally:
        if not keep:
            uploads.delete(context, source)


def visible(session: Session, principal: Principal, job_id: int) -> JobRow:
    job = session.get(JobRow, job_id) if is_row_id(job_id) else None
    if job is None:
        raise NotFound(f"job {job_id} not found; `fermion job list` shows the workspace's jobs")
    if principal.job_id is not None and principal.job_id != job_id:
        raise Forbidden(f"a job's token can only act on its own job, not on job {job_id}")
    return job


def list_jobs(session: Session, scheduler: Scheduler, status: JobStatus | None) -> JobsPublic:
    query = select(JobRow).order_by(JobRow.id.desc())
    if status is not None:
        query = query.where(JobRow.status == status.value)
    positions = _queue_positions(session)
    queue = QueueView(session, scheduler.executor)
    data = [
        to_public(job, positions.get(job.id), queue.reason(job)) for job in session.scalars(query)
    ]
    return JobsPublic(data=data, count=len(data))


def show(session: Session, scheduler: Scheduler, job: JobRow) -> JobPublic:
    reason = QueueView(session, scheduler.executor).reason(job)
    return to_public(job, _queue_positions(session).get(job.id), reason)


def cancel(session: Session, scheduler: Scheduler, job: JobRow) -> JobPublic:
    status = JobStatus(job.status)
    if status.is_terminal:
        raise Conflict(f"job {job.id} has already {status.value}; nothing to cancel")
    job.cancel_requested = True
    if status is JobStatus.QUEUED:
        job.status = JobStatus.CANCELLED.value
        job.finished_at = now()
        job.failure_reason = "cancelled"
    session.commit()
    scheduler.wake()
    return show(session, scheduler, job)


def retry(session: Session, scheduler: Scheduler, job: JobRow) -> JobPublic:
    status = JobStatus(job.status)
    if status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        raise Conflict(
            f"job {job.id} is {status.value}; only a failed or cancelled job can be retried"
        )
    job.status = JobStatus.QUEUED.value
    job.cancel_requested = False
    job.finished_at = None
    # One more attempt than it has had, whatever its retry budget was.
    job.max_retries = max(job.max_retries, job.attempt)
    session.commit()
    scheduler.wake()
    return show(session, scheduler, job)


def delete(context: ServerContext, session: Session, job: JobRow) -> None:
    status = JobStatus(job.status)
    if not status.is_terminal:
        raise Conflict(
            f"job {job.id} is {status.value}; cancel it first (fermion job cancel"
            f" {job.id}), then delete it"
        )
    replica = session.scalar(select(ReplicaRow).where(ReplicaRow.job_id == job.id))
    if replica is not None:
        raise Conflict(
            f"job {job.id} is a replica of deployment {replica.deployment.name};"
            " deleting the deployment removes it"
        )
    job_id = job.id
    session.delete(job)  # metrics and tokens go with it; models keep their row
    session.commit()
    files = job_files(context, job_id).root
    context.artifacts.delete(f"jobs/{job_id}")
    shutil.rmtree(files, ignore_errors=True)  # a remote store's job keeps its files here


# -- metrics ------------------------------------------------------------------------
def add_metrics(session: Session, job: JobRow, points: list[MetricPoint]) -> int:
    logged = now()
    session.add_all(
        JobMetricRow(
            job_id=job.id,
            name=p.name,
            step=p.step,
            value=p.value,
            attempt=job.attempt,
            logged_at=logged,
        )
        for p in points
    )
    session.commit()
    return len(points)


def metrics(session: Session, job: JobRow, name: str | None) -> JobMetrics:
    query = select(JobMetricRow).where(JobMetricRow.job_id == job.id).order_by(JobMetricRow.id)
    if name:
        query = query.where(JobMetricRow.name == name)
    series: dict[str, list[MetricValue]] = {}
    for row in session.scalars(query):
        series.setdefault(row.name, []).append(
            MetricValue(step=row.step, value=row.value, attempt=row.attempt, time=row.logged_at)
        )
    return JobMetrics(job_id=job.id, series=series)


def default_name(command: list[str]) -> str:
    """A job's name when none is given: its script (`train` for `python train.py
    --epochs 3`, `run.sh` for `bash run.sh`), its module (`pkg.train` for `python -m
    pkg.train`), else its program."""
    for i, arg in enumerate(command):
        if arg == "-m" and i + 1 < len(command):
            return command[i + 1][:64]
        if arg == "-c":  # code, not a file
            break
        if i > 0 and not arg.startswith("-") and Path(arg).suffix:
            return (Path(arg).stem if arg.endswith(".py") else Path(arg).name)[:64]
    return (Path(command[0]).name if command else "")[:64] or "job"
