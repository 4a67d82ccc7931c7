"""The scheduler: one thread in the server that admits queued jobs within the
executor's capacity (first in, first out, with backfill: a later job that fits may
start while an earlier one waits for room), watches running attempts, enforces memory
limits, carries out cancels, and retries failed attempts.

All of its state is in the database, so a restarted server picks up where it was: its
first pass finds each active attempt again through the executor (re-attaching it), or
learns that it ended or was lost while the server was down.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from fermion.errors import FermionError, NotFound
from fermion.payloads import JobStatus
from fermion.resources import Resources, place, readable_memory
from fermion.scheduler import confinement, quota
from fermion.scheduler.executor import Executor, ExitStatus, LaunchSpec, Lost, NotPlaced
from fermion.scheduler.files import JobFiles
from fermion.scheduler.outputs import plain_files
from fermion.store.context import ServerContext
from fermion.store.secrets import SecretBox
from fermion.store.tables import JobRow, SecretRow, Token, User
from fermion.store.tenancy import ALL_WORKSPACES

log = logging.getLogger("fermion.scheduler")

TICK_S = 0.25
MEMORY_CHECK_S = 1.0  # reading every process's memory map costs more than a tick
ACTIVE = (JobStatus.STARTING.value, JobStatus.RUNNING.value)


# (session, owner, description, job_id) -> the token's secret; the server hands it over.
IssueToken = Callable[[Session, User, str, int], str]


def last_error(log_file: Path, tail_bytes: int = 16_384) -> str | None:
    """The last "error: ..." line a job wrote (the text after the prefix)."""
    try:
        with open(log_file, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - tail_bytes))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        _, found, message = line.partition("error: ")
        if found and message.strip():
            return message.strip()[:1000]
    return None


def suggest_memory(used: int) -> str:
    """Half as much again as a killed job used, in whole GiB."""
    return f"{math.ceil(used * 1.5 / 1024**3)}Gi"


def node_share(job: JobRow) -> Resources:
    """What the job holds on each of its nodes."""
    return Resources(cpu=job.cpu, gpu=job.gpu, memory=job.memory_bytes)


def job_resources(job: JobRow) -> Resources:
    """What the job holds in all: its share on each of its nodes."""
    return node_share(job).times(job.nodes)


def now() -> datetime:
    return datetime.now(UTC)


class Scheduler:
    def __init__(self, context: ServerContext, executor: Executor, issue_token: IssueToken) -> None:
        self.context = context
        self.executor = executor
        self.issue_token = issue_token  # the server's; jobs get a token scoped to themselves
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._terminating: set[int] = set()  # jobs sent SIGTERM in this server's life
        self._memory_checked: dict[int, float] = {}
        self._lock = threading.Lock()
        # Run on every pass before queued jobs are admitted (the server's deployment
        # controller, which turns deployments into replica jobs).
        self.reconcilers: list[Callable[[Session], None]] = []

    # -- lifecycle --------------------------------------------------------------
    def start(self) -> None:
        self.tick()  # reconcile before serving: re-attach, or settle what ended meanwhile
        self._thread = threading.Thread(target=self._run, name="fermion-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop scheduling; running jobs keep running and are re-attached on restart."""
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=10)

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(TICK_S)
            self._wake.clear()
            try:
                self.tick()
            except Exception:  # keep scheduling whatever one pass ran into
                log.exception("scheduler pass failed")

    def tick(self) -> None:
        with self._lock, self.context.metadata.session() as session:
            self._watch_active(session)
            for reconcile in self.reconcilers:
                reconcile(session)
            self._admit_queued(session)

    @contextmanager
    def between_passes(self) -> Iterator[None]:
        """Hold off the next pass: for a change its reconcilers must not act on halfway
        (a sweep cancelled while its controller starts a trial)."""
        with self._lock:
            yield

    # -- capacity ---------------------------------------------------------------
    def used(self, session: Session) -> Resources:
        total = Resources()
        active = select(JobRow).where(JobRow.status.in_(ACTIVE))
        for job in session.scalars(active.execution_options(**{ALL_WORKSPACES: True})):
            total = total + job_resources(job)
        return total

    # -- watching ---------------------------------------------------------------
    def _watch_active(self, session: Session) -> None:
        for job in session.scalars(select(JobRow).where(JobRow.status.in_(ACTIVE))).all():
            try:
                self._watch(session, job)
                session.commit()
            except Exception:  # one job's trouble must not stop the others being watched
                session.rollback()
                log.exception("watching job %d failed", job.id)

    def _watch(self, session: Session, job: JobRow) -> None:
        state = self.executor.poll(job.handle or {})
        if isinstance(state, ExitStatus | Lost):
            self._finish_attempt(session, job, state)
            return
        if state == "running" and job.status != JobStatus.RUNNING:
            job.status = JobStatus.RUNNING.value
            log.info("job %d attempt %d running", job.id, job.attempt)
        if job.cancel_requested:
            self._terminate(job)
        else:
            self._check_memory(session, job)

    def _terminate(self, job: JobRow) -> None:
        if job.id not in self._terminating:
            self._terminating.add(job.id)
            self.executor.terminate(job.handle or {}, self.context.settings.job_grace_s)

    def _check_memory(self, session: Session, job: JobRow) -> None:
        if not job.memory_bytes:
            return
        if time.monotonic() < self._memory_checked.get(job.id, 0) + MEMORY_CHECK_S:
            return
        self._memory_checked[job.id] = time.monotonic()
        used = self.executor.memory_used(job.handle or {}, job.memory_bytes)
        if used > job.memory_bytes and job.id not in self._terminating:
            job.failure_reason = (
                f"killed: out of memory (used {readable_memory(used)} of its"
                f" {readable_memory(job.memory_bytes)} limit); run it again with more, e.g."
                f" --memory {suggest_memory(used)}"
            )
            log.warning("job %d: %s", job.id, job.failure_reason)
            self._terminating.add(job.id)
            self.executor.terminate(job.handle or {}, 0.0)

    def _finish_attempt(self, session: Session, job: JobRow, state: ExitStatus | Lost) -> None:
        self._terminating.discard(job.id)
        if isinstance(state, NotPlaced) and not job.cancel_requested:
            job.attempt -= 1  # it never ran: back to the queue, its tries intact
            job.status = JobStatus.QUEUED.value
            job.failure_reason = state.describe()  # what the queue shows while it waits
            job.handle = None
            log.info("job %d: %s", job.id, job.failure_reason)
            return
        succeeded = isinstance(state, ExitStatus) and state.succeeded
        final = isinstance(state, ExitStatus) and state.unrecoverable
        reason = None
        if not succeeded:  # our own memory kill says more than "killed by signal 9"
            oom = (job.failure_reason or "").startswith("killed: out of memory")
            reason = job.failure_reason if oom else state.describe()
        if final:
            reason = last_error(self.files(job.id).log(job.attempt)) or reason
        job.exit_code = state.exit_code if isinstance(state, ExitStatus) else None
        job.history = [
            *job.history,
            {
                "attempt": job.attempt,
                "exit_code": job.exit_code,
                "reason": reason,
                "started_at": job.started_at.isoformat() if job.started_at else None,
                "finished_at": now().isoformat(),
            },
        ]
        if job.cancel_requested:
            self._end(session, job, JobStatus.CANCELLED, "cancelled")
        elif succeeded:
            self._end(session, job, JobStatus.SUCCEEDED, None)
        elif job.attempt <= job.max_retries and not final:
            log.info("job %d attempt %d failed (%s); retrying", job.id, job.attempt, reason)
            job.status = JobStatus.QUEUED.value
            job.failure_reason = reason
            job.handle = None
            self._sync(job)
        else:
            self._end(session, job, JobStatus.FAILED, reason)

    def _end(self, session: Session, job: JobRow, status: JobStatus, reason: str | None) -> None:
        job.status = status.value
        job.failure_reason = reason
        job.finished_at = now()
        job.handle = None
        session.execute(delete(Token).where(Token.job_id == job.id))  # its token dies with it
        self._sync(job)
        log.info("job %d %s%s", job.id, status.value, f": {reason}" if reason else "")

    def _sync(self, job: JobRow) -> None:
        """Copy the job's files to a remote artifact store (a local one holds them already)."""
        if not self.context.artifacts.is_local:
            files = self.files(job.id)
            for part in ("logs", "artifacts", "tensorboard", "checkpoints"):
                # Read without following links: the job may have planted one to a server file.
                for relative, f in plain_files(files.root / part):
                    with self.context.artifacts.open_write(
                        f"jobs/{job.id}/{part}/{relative}"
                    ) as out:
                        shutil.copyfileobj(f, out, 1 << 20)

    # -- admitting ----------------------------------------------------------------
    def _admit_queued(self, session: Session) -> None:
        queued = session.scalars(
            select(JobRow).where(JobRow.status == JobStatus.QUEUED.value).order_by(JobRow.id)
        ).all()
        if not queued:
            return
        capacity = self.executor.capacity()
        free = capacity - self.used(session)
        active = session.scalars(select(JobRow).where(JobRow.status.in_(ACTIVE))).all()
        busy_gpus = {g for j in active for g in j.gpu_ids}
        usage = quota.usage_by_workspace(session)
        limits = quota.quotas(session)
        replicas = quota.replica_job_ids(session, [j.id for j in queued])
        nodes = self.executor.node_count()
        # On a cluster, a job must fit node by node too, not only in the totals.
        by_node = self.executor.nodes_free([j.handle for j in active if j.handle])
        for job in queued:
            if not job_resources(job).fits_in(free) or job.nodes > nodes:
                continue  # backfill: a later, smaller job may still fit
            chosen = [] if by_node is None else place(node_share(job), job.nodes, by_node)
            if chosen is None:
                continue  # the totals have room, no set of nodes has
            limit = limits.get(job.workspace_id, ("", {}))[1]
            used = usage[job.workspace_id]
            if quota.shortfall(limit, used, job_resources(job), job.id in replicas):
                continue  # its workspace is at its quota; others' jobs may still start
            used.add(job_resources(job), job.id in replicas)
            gpu_ids = [g for g in range(capacity.gpu) if g not in busy_gpus][: job.gpu]
            busy_gpus.update(gpu_ids)
            free = free - job_resources(job)
            for index in chosen:  # where Ray will put it (its group is not placed yet)
                by_node[index] = by_node[index] - node_share(job)
            self._launch(session, job, gpu_ids)
            session.commit()

    def files(self, job_id: int) -> JobFiles:
        return job_files(self.context, job_id)

    def _launch(self, session: Session, job: JobRow, gpu_ids: list[int]) -> None:
        job.attempt += 1
        job.status = JobStatus.STARTING.value
        job.gpu_ids = gpu_ids
        job.cancel_requested = False
        job.started_at = now()
        job.finished_at = None
        files = self.files(job.id).create()
        session.execute(delete(Token).where(Token.job_id == job.id))
        token = self.issue_token(session, job_owner(session, job), f"job {job.id}", job_id=job.id)
        settings = self.context.settings
        try:
            env = confinement.environment(settings, job, files, token, gpu_ids)
            env |= self._secrets(session, job)
        except FermionError as exc:  # a secret deleted, or sealed under another key
            self._end(session, job, JobStatus.FAILED, f"could not start: {exc.message}")
            return
        spec = LaunchSpec(
            job_id=job.id,
            attempt=job.attempt,
            command=list(job.command),
            nproc=job.nproc,
            env=env,
            job_dir=files.root,
            code_dir=files.code,
            attempt_dir=files.attempt_state(job.attempt),
            log_path=files.log(job.attempt),
            gpu_ids=gpu_ids,
            isolation=(
                confinement.isolation(settings, self.context.artifacts.local_path(""), job, files)
                if confinement.sandboxes(settings, job)
                else None
            ),
            masked=list(job.secrets or []),
            resources=node_share(job),
            nodes=job.nodes,
        )
        try:
            job.handle = self.executor.launch(spec)
            log.info("job %d attempt %d started (%s)", job.id, job.attempt, job.name)
        except (OSError, ValueError) as exc:  # a command the OS will not run
            self._end(session, job, JobStatus.FAILED, f"could not start: {exc}")

    def _secrets(self, session: Session, job: JobRow) -> dict[str, str]:
        """The job's secrets, opened for its environment only (its log masks them)."""
        if not job.secrets:
            return {}
        box = SecretBox.of(self.context.settings)
        rows = {
            row.name: row
            for row in session.scalars(
                select(SecretRow).where(
                    SecretRow.workspace_id == job.workspace_id, SecretRow.name.in_(job.secrets)
                )
            )
        }
        missing = [name for name in job.secrets if name not in rows]
        if missing:
            raise NotFound(f"secret {missing[0]} no longer exists; set it, then retry the job")
        return {
            name: box.open(rows[name].owner_id, name, rows[name].sealed) for name in job.secrets
        }


def job_files(context: ServerContext, job_id: int) -> JobFiles:
    local = context.artifacts.local_path(f"jobs/{job_id}")
    return JobFiles(local if local is not None else context.settings.home / "jobs" / str(job_id))


def job_owner(session: Session, job: JobRow) -> User:
    return session.get(User, job.owner_id)
