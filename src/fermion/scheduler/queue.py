"""Why a queued job waits: the resource it lacks, what holds that resource (jobs and
deployments' replicas), and the commands that would free it."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from fermion.payloads import JobStatus
from fermion.resources import Resources, place, readable_memory
from fermion.scheduler import quota
from fermion.scheduler.executor import NOT_PLACED, Executor
from fermion.scheduler.scheduler import ACTIVE, job_resources, node_share
from fermion.store.tables import JobRow, ReplicaRow
from fermion.store.tenancy import ALL_WORKSPACES, entered


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


def _total(jobs: list[JobRow]) -> Resources:
    total = Resources()
    for job in jobs:
        total = total + job_resources(job)
    return total


def _holding(jobs: list[JobRow]) -> str:
    total = _total(jobs)
    parts = [f"{total.cpu:g} CPU"] + ([f"{total.gpu} GPU"] if total.gpu else [])
    return ", ".join([*parts, readable_memory(total.memory)])


def _describe_free(free: Resources) -> str:
    """A node's free resources; what others took past its total shows as none."""
    return Resources(max(free.cpu, 0), max(free.gpu, 0), max(free.memory, 0)).describe()


class QueueView:
    """What holds the capacity now, read once for any number of queued jobs. Read in a
    request's session, it counts every workspace's jobs but names only the caller's."""

    def __init__(self, session: Session, executor: Executor) -> None:
        self.nodes = executor.node_count()  # the machines a job may span now
        everywhere = {ALL_WORKSPACES: True}
        active = list(
            session.scalars(
                select(JobRow).where(JobRow.status.in_(ACTIVE)).execution_options(**everywhere)
            )
        )
        self.free = executor.capacity() - _total(active)
        self.by_node = executor.nodes_free([j.handle for j in active if j.handle])
        self.first_queued = session.scalar(
            select(JobRow.id)
            .where(JobRow.status == JobStatus.QUEUED.value)
            .order_by(JobRow.id)
            .execution_options(**everywhere)
        )
        self.usage = quota.usage_by_workspace(session)
        self.quotas = quota.quotas(session)
        here = entered(session)
        others = [j for j in active if here is not None and j.workspace_id != here]
        active = [j for j in active if j not in others]
        replicas = select(ReplicaRow).where(ReplicaRow.job_id.in_([j.id for j in active]))
        replica_of = {r.job_id: r.deployment.name for r in session.scalars(replicas)}
        self.replica_jobs = set(session.scalars(select(ReplicaRow.job_id)))
        by_deployment: dict[str, list[JobRow]] = defaultdict(list)
        self.holders: list[str] = [f"other workspaces ({_holding(others)})"] if others else []
        self.frees: list[str] = []
        for job in active:
            if job.id in replica_of:
                by_deployment[replica_of[job.id]].append(job)
            else:
                self.holders.append(f"job {job.id} {job.name} ({_holding([job])})")
                self.frees.append(f"fermion job cancel {job.id}")
        for name, replicas_of_it in by_deployment.items():
            self.holders.insert(
                0,
                f"deployment {name} ({len(replicas_of_it)} replica(s): {_holding(replicas_of_it)})",
            )
            self.frees.insert(0, f"fermion deployment scale {name} --replicas 0")

    def reason(self, job: JobRow) -> str | None:
        """One line for a person: why `job` is still queued and what to do about it;
        None when nothing holds it back (it starts at the scheduler's next pass)."""
        if job.status != JobStatus.QUEUED.value:
            return None
        if job.nodes > self.nodes:
            return (
                f"waiting for {job.nodes} nodes, and the cluster has {self.nodes} alive;"
                " add one (ray start --address HEAD:PORT on another machine), or run it on"
                " fewer (--nodes)"
            )
        short = _short_of(job_resources(job), self.free)
        name, limit = self.quotas.get(job.workspace_id, ("", {}))
        replica = job.id in self.replica_jobs
        over = quota.shortfall(limit, self.usage[job.workspace_id], job_resources(job), replica)
        if not short and over:
            return quota.describe(name, over)
        if not short and self.by_node is not None:
            share = node_share(job)
            if place(share, job.nodes, self.by_node) is None:
                each = " free on each" if job.nodes > 1 else " free"
                nodes = "; ".join(_describe_free(free) for free in self.by_node)
                return (
                    f"waiting for {job.nodes} node(s) with {share.describe()}{each}: the"
                    f" cluster has room in all, not on so many nodes at once (free now: {nodes})"
                )
        if not short:
            if (job.failure_reason or "").startswith(NOT_PLACED):
                return job.failure_reason  # the totals have room; no machine had
            if self.first_queued is not None and self.first_queued < job.id:
                return "waiting for the jobs queued before it, which start first"
            return None
        held = f"; held by {', '.join(self.holders)}" if self.holders else ""
        hint = f"; to free them: {' or '.join(self.frees[:3])}" if self.frees else ""
        return f"waiting for {' and '.join(short)}{held}{hint}"
