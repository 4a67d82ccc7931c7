"""The federation controller: on every scheduler pass, follows each running federation's
jobs.

- The coordinator succeeded: the global model it registered is the federation's. The
  sites' jobs end by themselves once the SuperLink has gone (site.py); one still
  running a minute later is stopped.
- The coordinator failed or was cancelled: the federation failed, its sites are stopped.
- A site's job ended while the rounds go on: a round can never hear from it again, so
  the federation fails at once (rather than at the round's timeout), naming the site.

The rows and the jobs are the whole state: a restarted server picks up where it was."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from fermion.payloads import JobStatus
from fermion.scheduler.scheduler import Scheduler, now
from fermion.server.services import federations
from fermion.store import tenancy
from fermion.store.context import ServerContext
from fermion.store.tables import FederationRow, JobRow, ModelVersionRow

log = logging.getLogger("fermion.federations")
SITES_END_WITHIN = timedelta(seconds=60)  # after a success, before their jobs are stopped


class FederationController:
    def __init__(self, context: ServerContext, scheduler: Scheduler) -> None:
        self.context = context
        self.scheduler = scheduler

    def reconcile(self, session: Session) -> None:
        running = select(FederationRow).where(FederationRow.status == "running")
        for row in session.scalars(running).all():
            with tenancy.within(session, row.workspace_id):  # its names, its workspace's
                self.advance(session, row)
            session.commit()
        lingering = select(FederationRow).where(
            FederationRow.status == "succeeded",
            FederationRow.finished_at.between(
                now() - 60 * SITES_END_WITHIN, now() - SITES_END_WITHIN
            ),
        )
        for row in session.scalars(lingering).all():
            federations.stop_jobs(session, self.scheduler, row)

    def advance(self, session: Session, row: FederationRow) -> None:
        coordinator = row.coordinator
        if coordinator is None:
            return self.end(session, row, "failed", "its coordinator job was deleted")
        status = JobStatus(coordinator.status)
        if status is JobStatus.SUCCEEDED:
            row.model = self.registered(session, coordinator.id)
            federations.ended(row, "succeeded", None)  # the sites end by themselves
            log.info("federation %s succeeded: %s", row.name, row.model)
            return None
        if status.is_terminal:
            reason = coordinator.failure_reason or status.value
            return self.end(session, row, "failed", f"coordinator job {coordinator.id}: {reason}")
        for site in row.sites:
            job = session.get(JobRow, site["job_id"]) if site["job_id"] is not None else None
            if job is None or JobStatus(job.status).is_terminal:
                why = "was deleted" if job is None else f"ended: {job.failure_reason or job.status}"
                return self.end(
                    session, row, "failed", f"site {site['site']}'s job {site['job_id']} {why}"
                )
        return None

    def end(self, session: Session, row: FederationRow, status: str, reason: str | None) -> None:
        federations.ended(row, status, reason)
        session.commit()
        federations.stop_jobs(session, self.scheduler, row)
        log.info("federation %s %s%s", row.name, status, f": {reason}" if reason else "")

    @staticmethod
    def registered(session: Session, job_id: int) -> str | None:
        version = session.scalar(
            select(ModelVersionRow)
            .where(ModelVersionRow.job_id == job_id)
            .order_by(ModelVersionRow.id.desc())
        )
        return f"{version.model.name}:v{version.version}" if version is not None else None
