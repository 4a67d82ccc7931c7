"""Why a queued job waits: the resource it lacks, what holds that resource (jobs and
deployments' replicas), and the commands that would free it."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from fermion.payloads import JobStatus
from fermion.resources import Resources, readable_memory
from fermion.scheduler.scheduler import ACTIVE, job_resources
from fermion.store.tables import JobRow, ReplicaRow


def _short_of(need: Resources, free: Resources) -> list[str]:
    short = []
    if need.cpu > free.cpu + 1e-9:
        short.append(f"CPUs ({need.cpu:g} wanted, {max(free.cpu, 0):g} free)")
    if need.gpu > free.gpu:
        short.append(f"GPUs ({need.gpu} wanted, {max(free.gpu, 0)} free)")
    if need.memory > free.memory:
        short.append(
            f"memory ({readable_memory(need.memory)} wanted,"
            f" {readable_memory(max(free.memory, 0))} free)"
        )
    return short


def _holding(jobs: list[JobRow]) -> str:
    total = Resources()
    for job in jobs:
        total = total + job_resources(job)
    parts = [f"{total.cpu:g} CPU"] + ([f"{total.gpu} GPU"] if total.gpu else [])
    return ", ".join([*parts, readable_memory(total.memory)])


def wait_reason(session: Session, job: JobRow, capacity: Resources) -> str | None:
    """One line for a person: why `job` is still queued and what to do about it."""
    if job.status != JobStatus.QUEUED.value:
        return None
    active = list(session.scalars(select(JobRow).where(JobRow.status.in_(ACTIVE))))
    used = Resources()
    for other in active:
        used = used + job_resources(other)
    short = _short_of(job_resources(job), capacity - used)
    if not short:
        ahead = session.scalar(
            select(JobRow.id).where(JobRow.status == JobStatus.QUEUED.value, JobRow.id < job.id)
        )
        return (
            "waiting for the jobs queued before it, which start first"
            if ahead is not None
            else "starting at the scheduler's next pass"
        )
    replica_of = {
        r.job_id: r.deployment.name
        for r in session.scalars(
            select(ReplicaRow).where(ReplicaRow.job_id.in_([j.id for j in active]))
        )
    }
    by_deployment: dict[str, list[JobRow]] = defaultdict(list)
    holders, frees = [], []
    for other in active:
        if other.id in replica_of:
            by_deployment[replica_of[other.id]].append(other)
        else:
            holders.append(f"job {other.id} {other.name} ({_holding([other])})")
            frees.append(f"fermion job cancel {other.id}")
    for name, replicas in by_deployment.items():
        holders.insert(0, f"deployment {name} ({len(replicas)} replica(s): {_holding(replicas)})")
        frees.insert(0, f"fermion deployment scale {name} --replicas 0")
    held = f"; held by {', '.join(holders)}" if holders else ""
    hint = f"; to free them: {' or '.join(frees[:3])}" if frees else ""
    return f"waiting for {' and '.join(short)}{held}{hint}"
