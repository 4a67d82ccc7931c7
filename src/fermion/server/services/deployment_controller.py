"""The deployment controller: on every scheduler pass, makes each deployment's replica
jobs match what it asks for.

- Too few replicas of the wanted model: start them (all at once).
- Too many: stop the extra ones, those not ready first.
- Replicas of another model version (an update): roll, one replica at a time. Start one
  new replica (when there is room beside the old ones), wait until it is ready, then
  stop one old one; repeat. Without room for the extra replica, stop an old one first,
  so a deployment of N serves with N-1 while it rolls.

A deployment with autoscaling bounds has `replicas` set by the autoscaler first, from
the load its gateway sees (autoscaler.py); the rest is the same.

A replica whose model cannot be loaded exits saying so (EXIT_UNRECOVERABLE): its job
fails without a retry, and the deployment is failed, with the replica's error, until it
is given another model version; no replacement is started for a model that cannot load.

Replicas are jobs that always restart (a crashed one comes back as its next attempt),
run by the same scheduler, within the same capacity, as every other job. Stopping one
is cancelling its job: SIGTERM, and the replica finishes the requests it holds."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fermion.errors import EXIT_UNRECOVERABLE
from fermion.payloads import JobStatus
from fermion.refs import format_ref
from fermion.resources import Resources
from fermion.scheduler import quota
from fermion.server.services.autoscaler import Autoscaler
from fermion.store.tables import DeploymentRow, JobRow, ReplicaRow

log = logging.getLogger("fermion.deployments")

ALWAYS_RESTART = 1_000_000  # a replica's retry budget: in effect, restart whenever it ends


def replica_command(row: DeploymentRow) -> list[str]:
    version = row.model_version
    return [
        sys.executable,
        "-m",
        "fermion.serving.replica",
        f"--model={format_ref(version.model.name, version.version)}",
        f"--name={row.name}",
        f"--max-batch-size={row.max_batch_size}",
        f"--max-batch-delay-ms={row.max_batch_delay_ms:g}",
        f"--runtime={row.runtime}",
    ]


def cannot_load(replica: ReplicaRow) -> bool:
    """The replica ended because its model cannot be loaded (not worth another try)."""
    job = replica.job
    return job.status == JobStatus.FAILED.value and job.exit_code == EXIT_UNRECOVERABLE


def failed_load(row: DeploymentRow) -> ReplicaRow | None:
    """A replica of the deployment's current model that could not load it."""
    return next(
        (
            r
            for r in row.replica_rows
            if r.model_version_id == row.model_version_id and cannot_load(r)
        ),
        None,
    )


class DeploymentController:
    def __init__(
        self, free: Callable[[Session], Resources], autoscaler: Autoscaler | None = None
    ) -> None:
        self.free = free  # (session) -> Resources not used by active jobs
        self.autoscaler = autoscaler  # sets `replicas` of the deployments that ask for it

    def reconcile(self, session: Session) -> None:
        for row in session.scalars(select(DeploymentRow)).all():
            try:
                self._reconcile(session, row)
                session.commit()
            except Exception:  # one deployment's trouble must not stop the others
                session.rollback()
                log.exception("reconciling deployment %s failed", row.name)

    def _reconcile(self, session: Session, row: DeploymentRow) -> None:
        live: list[ReplicaRow] = []
        for replica in list(row.replica_rows):
            if cannot_load(replica) and replica.model_version_id == row.model_version_id:
                continue  # kept, to say why the deployment failed
            if JobStatus(replica.job.status).is_terminal:
                session.delete(replica)  # the job stays, with its logs, in the job list
            elif not replica.job.cancel_requested:
                live.append(replica)
        current = [r for r in live if r.model_version_id == row.model_version_id]
        stale = [r for r in live if r.model_version_id != row.model_version_id]
        if failed_load(row):
            if self.autoscaler is not None:  # a request waits for no replica: none comes
                self.autoscaler.meter.wakes.discard(row.name)
            return  # starting more of a model that cannot load would only fail again
        if self.autoscaler is not None:
            self.autoscaler.adjust(session, row, live=len(current))
        if stale:
            self._roll(session, row, current, stale)
        elif len(current) < row.replicas:
            for _ in range(row.replicas - len(current)):
                self._start(session, row)
        elif len(current) > row.replicas:
            # Not ready ones first, then the newest.
            order = sorted(current, key=lambda r: (self._ready(r), -r.id))
            for replica in order[: len(current) - row.replicas]:
                self._stop(replica, "scaled down")

    def _roll(
        self,
        session: Session,
        row: DeploymentRow,
        current: list[ReplicaRow],
        stale: list[ReplicaRow],
    ) -> None:
        if any(not self._ready(r) for r in current):
            return  # the new replica is on its way: wait for it
        if len(current) >= row.replicas or len(current) + len(stale) > row.replicas:
            self._stop(
                stale[0],
                f"replaced by {format_ref(row.model_version.model.name, row.model_version.version)}",
            )
            return
        one = Resources(cpu=row.cpu, gpu=0, memory=row.memory_bytes)
        fits = quota.replicas_that_fit(session, row.workspace_id, one, self.free(session), 1)
        if fits or not stale:
            self._start(session, row)
        else:  # no room for one more here or in the quota: the roll goes one replica down
            self._stop(stale[0], "making room for the update")

    @staticmethod
    def _ready(replica: ReplicaRow) -> bool:
        job = replica.job
        return (
            replica.ready
            and job.status == JobStatus.RUNNING.value
            and replica.endpoint_attempt == job.attempt
        )

    def _start(self, session: Session, row: DeploymentRow) -> None:
        job = JobRow(
            name=f"{row.name}-replica"[:64],
            kind="replica",
            owner_id=row.owner_id,
            workspace_id=row.workspace_id,
            status=JobStatus.QUEUED.value,
            command=replica_command(row),
            env={},
            nproc=1,
            cpu=row.cpu,
            gpu=0,
            memory_bytes=row.memory_bytes,
            max_retries=ALWAYS_RESTART,
        )
        session.add(job)
        session.add(
            ReplicaRow(deployment=row, job=job, model_version_id=row.model_version_id, ready=False)
        )
        session.flush()
        log.info("deployment %s: starting replica job %d", row.name, job.id)

    @staticmethod
    def _stop(replica: ReplicaRow, why: str) -> None:
        job = replica.job
        job.cancel_requested = True
        replica.ready = False  # the gateway stops sending it requests now
        if job.status == JobStatus.QUEUED.value:
            job.status = JobStatus.CANCELLED.value
            job.failure_reason = "cancelled"
            job.finished_at = datetime.now(UTC)
        log.info(
            "deployment %s: stopping replica job %d (%s)", replica.deployment.name, job.id, why
        )
