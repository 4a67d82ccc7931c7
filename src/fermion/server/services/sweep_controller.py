"""The sweep controller: on every scheduler pass, moves each running sweep along.

- A running trial's job has logged another epoch: its metric joins the trial's
  intermediate values, and the pruner (Optuna's MedianPruner) decides whether the trial
  is worse than the median of the finished ones at that epoch; if so its job is
  cancelled and the trial is `pruned`.
- A trial's job ended: the trial is `complete` with the best of its epochs' metric (the
  epoch the trainer keeps), or `failed`.
- Fewer trials run than the sweep's `parallel`, and trials are left: Optuna's TPE sampler
  proposes the next options (trial 0 runs the defaults where the space holds them), and a
  training job is queued with them, with its own resources and queue place.
- Every trial has ended: the best trial's model is registered under the sweep's name,
  and each option's importance is measured (PED-ANOVA).

The rows are the whole state: Optuna's study is rebuilt from them when it is needed
(TPE and the median pruner look only at finished trials), so a sweep goes on after a
server restart where it stood, and the trials' jobs, which outlive the server, too."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fermion.errors import FermionError, InvalidInput
from fermion.payloads import JobPublic, JobStatus, SweepCreate, TrainCreate
from fermion.scheduler.scheduler import Scheduler, now
from fermion.server.services import jobs, models, sweeps, training
from fermion.server.services.search_space import param_importance, study_of
from fermion.store import tenancy
from fermion.store.context import ServerContext
from fermion.store.tables import JobMetricRow, SweepRow, SweepTrialRow, User

log = logging.getLogger("fermion.sweeps")
TRIAL_ENV = "FERMION_TRIAL"  # fermion.trial reads it (a layer above: not imported here)


class SweepController:
    def __init__(self, context: ServerContext, scheduler: Scheduler) -> None:
        self.context = context
        self.scheduler = scheduler

    def reconcile(self, session: Session) -> None:
        for row in session.scalars(select(SweepRow).where(SweepRow.status == "running")).all():
            try:
                with tenancy.within(session, row.workspace_id):  # its names, its workspace's
                    self.advance(session, row)
            except FermionError as exc:  # a trial that cannot be queued ends the sweep
                self.fail(session, row, exc.message)
            except Exception as exc:  # noqa: BLE001 - one sweep must not stop the scheduler
                log.exception("sweep %s failed", row.name)
                self.fail(session, row, f"{type(exc).__name__}: {exc}"[:1000])

    def fail(self, session: Session, row: SweepRow, reason: str) -> None:
        session.rollback()
        sweeps.stop_trials(session, self.scheduler, row)
        sweeps.ended(self.context, row, "failed", reason)
        session.commit()

    def advance(self, session: Session, row: SweepRow) -> None:
        spec = sweeps.spec_of(row)
        for trial in [t for t in row.trials if t.state == "running"]:
            self.watch(session, spec, row, trial)
        running = sum(t.state == "running" for t in row.trials)
        while running < spec.parallel and len(row.trials) < spec.trials:
            self.start_trial(session, spec, row)
            running += 1
        if running == 0 and len(row.trials) >= spec.trials:
            self.finish(session, spec, row)
        session.commit()

    # -- trials ---------------------------------------------------------------------
    def watch(
        self, session: Session, spec: SweepCreate, row: SweepRow, trial: SweepTrialRow
    ) -> None:
        job = trial.job
        if job is None:  # its job was deleted
            trial.state, trial.finished_at = "failed", now()
            return
        trial.intermediate = epoch_values(session, job.id, spec.metric_name)
        status = JobStatus(job.status)
        if status is JobStatus.SUCCEEDED:
            values = trial.intermediate
            trial.state = "complete" if values else "failed"
            trial.value = (max if spec.direction == "maximize" else min)(values) if values else None
            trial.finished_at = now()
        elif status.is_terminal:
            trial.state, trial.finished_at = "failed", now()
        elif (
            spec.pruner != "none"
            and 0 < len(trial.intermediate) < (trial.epochs or sys.maxsize)  # not its last epoch
            and self.prunes(spec, row, trial)
        ):
            trial.state, trial.value, trial.finished_at = "pruned", trial.intermediate[-1], now()
            jobs.cancel(session, self.scheduler, job)
            log.info(
                "sweep %s: trial %d pruned after %d epochs",
                row.name,
                trial.number,
                len(trial.intermediate),
            )

    def prunes(self, spec: SweepCreate, row: SweepRow, trial: SweepTrialRow) -> bool:
        from optuna.trial import TrialState, create_trial

        study, distributions = study_of(spec, row)
        running = create_trial(
            params=trial.params,
            distributions=distributions,
            intermediate_values=dict(enumerate(trial.intermediate)),
            state=TrialState.RUNNING,
        )
        return bool(study.pruner.prune(study, running))

    def start_trial(self, session: Session, spec: SweepCreate, row: SweepRow) -> None:
        number = len(row.trials)
        first = row.spec.get("first") or {}
        if number == 0 and len(first) == len(spec.params):
            params: dict[str, Any] = dict(first)
        else:
            study, distributions = study_of(spec, row)
            params = study.ask(distributions).params
        user = session.get(User, row.owner_id)
        job, epochs = self.submit(session, spec, row, user, number, params)
        row.trials.append(
            SweepTrialRow(
                number=number,
                job_id=job.id,
                params=params,
                state="running",
                epochs=epochs,
                intermediate=[],
            )
        )
        log.info("sweep %s: trial %d started as job %d with %s", row.name, number, job.id, params)

    def submit(
        self,
        session: Session,
        spec: SweepCreate,
        row: SweepRow,
        user: User,
        number: int,
        params: dict[str, Any],
    ) -> tuple[JobPublic, int | None]:
        """Queue the trial's job: the built-in trainer with the options, or the sweep's
        command with them in FERMION_TRIAL (fm.trial reads them)."""
        name = f"{row.name}-trial-{number}"[:64]
        if spec.command is None:
            options = TrainCreate(
                **{**spec.train, **params}, dataset=row.dataset, name=name, register_model=False
            )
            started = training.submit(self.context, self.scheduler, session, user, options)
            return started.job, started.config["epochs"]
        trial = {"sweep": row.name, "number": number, "params": params, "metric": spec.metric}
        request = sweeps.trial_job(spec, {TRIAL_ENV: json.dumps(trial)}, name)
        job = jobs.submit(self.context, self.scheduler, session, user, request, keep_upload=True)
        return job, None

    # -- the end ----------------------------------------------------------------------
    def finish(self, session: Session, spec: SweepCreate, row: SweepRow) -> None:
        done = [t for t in row.trials if t.state == "complete" and t.value is not None]
        if not done:
            sweeps.ended(self.context, row, "failed", "no trial completed; see its jobs' logs")
            return
        best = (max if spec.direction == "maximize" else min)(done, key=lambda t: t.value)
        row.best_trial = best.number
        row.model = self.register(session, spec, row, best)
        row.importance = param_importance(spec, row)
        sweeps.ended(self.context, row, "succeeded", None)
        log.info(
            "sweep %s: best trial %d (%s %.4f), registered %s",
            row.name,
            best.number,
            spec.metric,
            best.value,
            row.model,
        )

    def register(
        self, session: Session, spec: SweepCreate, row: SweepRow, best: SweepTrialRow
    ) -> str | None:
        """The best trial's model, registered under the sweep's name; a script's trial
        may have written none (a model folder in its artifacts' model/)."""
        try:
            return models.register_from_job(self.context, session, best.job, row.name, "model").ref
        except InvalidInput:
            if spec.command is None:
                raise
            return None


def epoch_values(session: Session, job_id: int, name: str) -> list[float]:
    """The metric after each epoch, in order (of the job's latest attempt)."""
    rows = session.execute(
        select(JobMetricRow.attempt, JobMetricRow.value)
        .where(JobMetricRow.job_id == job_id, JobMetricRow.name == name)
        .order_by(JobMetricRow.attempt, JobMetricRow.step, JobMetricRow.id)
    ).all()
    last = max((attempt for attempt, _ in rows), default=None)
    return [value for attempt, value in rows if attempt == last]
