"""Hyperparameter sweeps: create (checked before anything runs), show, list, cancel. The
trials are run by the sweep controller (sweep_controller.py) on the scheduler's passes."""

from __future__ import annotations

import contextlib
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from fermion.errors import Conflict, FermionError, InvalidInput, NotFound
from fermion.payloads import (
    DatasetType,
    JobCreate,
    JobStatus,
    ParamSpace,
    SweepCreate,
    SweepPublic,
    SweepsPublic,
    SweepTrialPublic,
    TrainCreate,
    describe_errors,
)
from fermion.refs import format_ref, parse_ref
from fermion.scheduler.scheduler import Scheduler, now
from fermion.server.services import datasets, jobs, training, uploads
from fermion.store.context import ServerContext
from fermion.store.tables import ModelRow, SweepRow, SweepTrialRow, User

CLASSIFICATION_METRICS = {
    "val_loss": "minimize",
    "val_accuracy": "maximize",
    "val_macro_f1": "maximize",
}
REGRESSION_METRICS = {
    "val_loss": "minimize",
    "val_mae": "minimize",
    "val_rmse": "minimize",
    "val_r2": "maximize",
}


def create(
    context: ServerContext,
    session: Session,
    scheduler: Scheduler,
    user: User,
    request: SweepCreate,
) -> SweepPublic:
    if request.code is not None:
        uploads.check(context, request.code)  # every trial unpacks it: it must be there
    if session.scalar(select(SweepRow).where(SweepRow.name == request.name)) is not None:
        raise Conflict(f"a sweep named {request.name!r} exists; pick another name")
    spec = request.model_dump(mode="json")
    pinned = None
    if request.command is not None:
        trial_job(request, {})  # each trial's job: its resources and command, checked now
    else:  # the built-in trainer: everything is checked now
        name, version = parse_ref(request.dataset or "")
        dataset = datasets.get_version(session, name, version)
        kind = DatasetType(dataset.dataset.type)
        _check_metric(kind, request)
        spec["first"] = _check_trials(request, dataset)  # trial 0: the defaults, if in the space
        model = session.scalar(select(ModelRow).where(ModelRow.name == request.name))
        if model is not None and model.versions and model.type != kind.value:
            raise Conflict(
                f"the best model is registered as {request.name!r}, a {model.type} model;"
                " pick another sweep name"
            )
        pinned = format_ref(name, dataset.version)
    row = SweepRow(name=request.name, owner_id=user.id, dataset=pinned, spec=spec, status="running")
    session.add(row)
    session.commit()
    scheduler.wake()
    return public(row)


def trial_job(request: SweepCreate, env: dict[str, str], name: str | None = None) -> JobCreate:
    """The job a script's trial runs as (its options reach it in `env`, set after the
    checks, which keep FERMION_* names for Fermion: this one is Fermion's own)."""
    resources = {k: v for k, v in request.train.items() if k != "env"}
    try:
        job = JobCreate(
            **resources,
            name=name,
            command=request.command,
            code=request.code,
            env=request.train.get("env", {}),
        )
    except ValidationError as exc:
        raise InvalidInput(describe_errors(exc.errors())) from None
    job.env = {**job.env, **env}
    return job


def _check_metric(kind: DatasetType, request: SweepCreate) -> None:
    known = REGRESSION_METRICS if kind is DatasetType.TABULAR_REGRESSION else CLASSIFICATION_METRICS
    if request.metric not in known:
        raise InvalidInput(
            f"{request.metric} is not a validation metric of {kind.value} training;"
            f" choose from {', '.join(known)}"
        )
    if known[request.metric] != request.direction:
        raise InvalidInput(
            f"{request.metric} is better {'higher' if known[request.metric] == 'maximize' else 'lower'}:"
            f" use --direction {known[request.metric]}"
        )


def _check_trials(request: SweepCreate, dataset: Any) -> dict[str, Any]:
    """Every trial's options are valid `fermion train` options (the space's ends and each
    choice are tried); returns the defaults that fall inside the space."""
    fixed = {**request.train, "dataset": format_ref(dataset.dataset.name, dataset.version)}
    for space in request.params:
        values = space.choices if space.kind == "choice" else [space.low, space.high]
        for value in values:
            if space.kind in ("int", "logint"):
                value = int(value)
            try:
                options = TrainCreate(**{**fixed, space.name: value})
            except ValidationError as exc:
                raise InvalidInput(
                    f"{space.name}={value}: {describe_errors(exc.errors())}"
                ) from None
            training.train_config(options, dataset)  # model names, sizes, per type
    chosen = training.train_config(TrainCreate(**fixed), dataset).to_dict()
    return {s.name: chosen[s.name] for s in request.params if _holds(s, chosen.get(s.name))}


def _holds(space: ParamSpace, value: Any) -> bool:
    if value is None:
        return False
    if space.kind == "choice":
        return value in (space.choices or [])
    return space.low <= value <= space.high


def public(row: SweepRow) -> SweepPublic:
    spec = spec_of(row)
    best = next((t for t in row.trials if t.number == row.best_trial), None)
    return SweepPublic(
        id=row.id,
        name=row.name,
        status=row.status,
        dataset=row.dataset,
        command=spec.command,
        metric=spec.metric,
        direction=spec.direction,
        trials_wanted=spec.trials,
        parallel=spec.parallel,
        pruner=spec.pruner,
        params=spec.params,
        train=spec.train,
        trials=[trial_public(t) for t in row.trials],
        best_trial=row.best_trial,
        best_value=best.value if best else None,
        model=row.model,
        importance=row.importance,
        reason=row.reason,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )


def spec_of(row: SweepRow) -> SweepCreate:
    return SweepCreate.model_validate({k: v for k, v in row.spec.items() if k != "first"})


def stop_trials(session: Session, scheduler: Scheduler, row: SweepRow) -> None:
    """End the running trials (`cancelled`), and cancel their jobs."""
    for trial in row.trials:
        if trial.state == "running":
            trial.state, trial.finished_at = "cancelled", now()
            if trial.job is not None and not JobStatus(trial.job.status).is_terminal:
                jobs.cancel(session, scheduler, trial.job)


def ended(context: ServerContext, row: SweepRow, status: str, reason: str | None) -> None:
    """The sweep is over: say how, and let go of its code's upload."""
    row.status, row.reason, row.finished_at = status, reason, now()
    if row.spec.get("code"):
        with contextlib.suppress(FermionError):  # checked at creation; gone is as good
            uploads.delete(context, row.spec["code"])


def trial_public(row: SweepTrialRow) -> SweepTrialPublic:
    return SweepTrialPublic(
        number=row.number,
        job_id=row.job_id,
        state=row.state,
        params=row.params,
        epochs=row.epochs,
        value=row.value,
        intermediate=row.intermediate or [],
        created_at=row.created_at,
        finished_at=row.finished_at,
    )


def get(session: Session, name: str) -> SweepRow:
    row = session.scalar(select(SweepRow).where(SweepRow.name == name))
    if row is None:
        raise NotFound(f"sweep {name!r} not found; `fermion sweep list` shows the sweeps")
    return row


def list_sweeps(session: Session) -> SweepsPublic:
    rows = session.scalars(select(SweepRow).order_by(SweepRow.id)).all()
    return SweepsPublic(data=[public(r) for r in rows], count=len(rows))


def cancel(
    context: ServerContext, session: Session, scheduler: Scheduler, row: SweepRow
) -> SweepPublic:
    """Stop the sweep: its running trials' jobs are cancelled; nothing is registered."""
    with scheduler.between_passes():  # the controller starts no trial meanwhile
        session.expire_all()  # and what it started before is seen
        if row.status != "running":
            raise Conflict(f"sweep {row.name} has already {row.status}; nothing to cancel")
        stop_trials(session, scheduler, row)
        ended(context, row, "cancelled", "cancelled")
        session.commit()
    return public(row)
