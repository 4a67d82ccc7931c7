"""Workspace quotas: what one workspace's jobs and replicas may hold at once.

A quota is a dict kept on the workspace (cpu, gpu, memory in bytes, jobs, replicas); a
key left out is no limit. The scheduler starts a queued job only when both the server's
capacity and its workspace's quota have room, and the queue reason names whichever is
short.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from fermion.resources import Resources, readable_memory
from fermion.store.tables import JobRow, ReplicaRow
from fermion.store.tenancy import ALL_WORKSPACES, WorkspaceRow


@dataclass
class Usage:
    held: Resources = field(default_factory=Resources)
    jobs: int = 0  # running jobs, replicas not counted
    replicas: int = 0

    def add(self, resources: Resources, replica: bool) -> None:
        self.held = self.held + resources
        if replica:
            self.replicas += 1
        else:
            self.jobs += 1


def replica_job_ids(session: Session, job_ids: list[int]) -> set[int]:
    query = select(ReplicaRow.job_id).where(ReplicaRow.job_id.in_(job_ids))
    return set(session.scalars(query))


def usage_by_workspace(session: Session) -> dict[int, Usage]:
    """What each workspace's active jobs and replicas hold now."""
    from fermion.scheduler.scheduler import ACTIVE, job_resources

    active = session.scalars(
        select(JobRow).where(JobRow.status.in_(ACTIVE)).execution_options(**{ALL_WORKSPACES: True})
    ).all()
    replicas = replica_job_ids(session, [j.id for j in active])
    usage: dict[int, Usage] = defaultdict(Usage)
    for job in active:
        usage[job.workspace_id].add(job_resources(job), job.id in replicas)
    return usage


def quotas(session: Session) -> dict[int, tuple[str, dict]]:
    """Each workspace that has a quota: its name and its quota."""
    return {w.id: (w.name, w.quota) for w in session.scalars(select(WorkspaceRow)) if w.quota}


def shortfall(quota: dict, usage: Usage, need: Resources, replica: bool) -> list[str]:
    """What one more job (or replica) needing `need` would take past the quota."""
    return room(quota, usage, need, replicas=1 if replica else 0, jobs=0 if replica else 1)


def room(quota: dict, usage: Usage, need: Resources, replicas: int, jobs: int) -> list[str]:
    """What `jobs` more jobs and `replicas` more replicas, needing `need` in all, would
    take past the quota; nothing when they fit."""
    short = []
    held = usage.held
    if quota.get("cpu") is not None and held.cpu + need.cpu > quota["cpu"] + 1e-9:
        left = max(quota["cpu"] - held.cpu, 0)
        short.append(f"CPUs ({need.cpu:g} wanted, {left:g} left of {quota['cpu']:g})")
    if quota.get("gpu") is not None and held.gpu + need.gpu > quota["gpu"]:
        left = max(quota["gpu"] - held.gpu, 0)
        short.append(f"GPUs ({need.gpu} wanted, {left} left of {quota['gpu']})")
    if quota.get("memory") is not None and held.memory + need.memory > quota["memory"]:
        left = max(quota["memory"] - held.memory, 0)
        short.append(
            f"memory ({readable_memory(need.memory)} wanted, {readable_memory(left)} left of"
            f" {readable_memory(quota['memory'])})"
        )
    for limit, count, more in (("jobs", usage.jobs, jobs), ("replicas", usage.replicas, replicas)):
        if more and quota.get(limit) is not None and count + more > quota[limit]:
            short.append(f"{limit} ({more} more wanted, {count} running of {quota[limit]})")
    return short


def replicas_that_fit(
    session: Session, workspace_id: int, one: Resources, free: Resources, most: int
) -> int:
    """How many more replicas needing `one` each (at most `most`) fit now: in what the
    server has `free` and in their workspace's quota."""
    workspace = session.get(WorkspaceRow, workspace_id)
    limits = workspace.quota if workspace is not None and workspace.quota else {}
    usage = usage_by_workspace(session)[workspace_id] if limits else Usage()
    for n in range(most, 0, -1):
        need = Resources(cpu=one.cpu * n, gpu=one.gpu * n, memory=one.memory * n)
        if need.fits_in(free) and not room(limits, usage, need, replicas=n, jobs=0):
            return n
    return 0


def beyond(quota: dict, need: Resources) -> list[str]:
    """What `need` asks for past the whole quota: such a job could never start."""
    return shortfall(quota, Usage(), need, replica=False) if quota else []


def describe(name: str, short: list[str]) -> str:
    return (
        f"waiting for workspace {name}'s quota: {' and '.join(short)}; an admin can raise it"
        f" (fermion workspace quota {name} ...), or stop its other jobs"
    )
