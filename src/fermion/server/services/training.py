"""`fermion train`: complete the options with defaults for the dataset, check them, and
queue a job of kind `train` that runs the built-in trainer. `fermion model evaluate`:
a job of kind `evaluate`."""

from __future__ import annotations

from sqlalchemy.orm import Session

from fermion.errors import InvalidInput
from fermion.payloads import (
    DatasetType,
    EvaluationCreate,
    JobPublic,
    TrainCreate,
    TrainPublic,
)
from fermion.precision import Precision, check_precision, cpu_has_native_bf16
from fermion.refs import format_ref, parse_ref
from fermion.scheduler.scheduler import Scheduler
from fermion.server.services import datasets, jobs
from fermion.store.context import ServerContext
from fermion.store.tables import DatasetVersionRow, ModelVersionRow, User
from fermion.training.config import FINE_TUNING, TrainConfig, check_model_name, defaults_for


def submit(
    context: ServerContext,
    scheduler: Scheduler,
    session: Session,
    user: User,
    request: TrainCreate,
) -> TrainPublic:
    name, version = parse_ref(request.dataset)
    row = datasets.get_version(session, name, version)
    wanted = jobs.wanted_resources(user, request.nproc, request.cpu, request.gpu, request.memory)
    warnings = check_precision(request.precision, wanted.gpu, cpu_has_native_bf16())
    config = train_config(request, row)
    job = jobs.submit_builtin(
        context,
        scheduler,
        session,
        user,
        "train",
        "fermion.training.run",
        config.to_dict(),
        name=config.name,
        nproc=request.nproc,
        nodes=request.nodes,
        cpu=request.cpu,
        gpu=request.gpu,
        memory=request.memory,
        max_retries=request.max_retries,
        code=request.code,
    )
    return TrainPublic(job=job, config=config.to_dict(), warnings=warnings)


def submit_evaluation(
    context: ServerContext,
    scheduler: Scheduler,
    session: Session,
    user: User,
    model: ModelVersionRow,
    request: EvaluationCreate,
) -> JobPublic:
    """Queue a job that evaluates a registered model on a dataset split and records the
    result with the model version."""
    name, version = parse_ref(request.dataset)
    row = datasets.get_version(session, name, version)
    if row.dataset.type != model.model.type:
        raise InvalidInput(
            f"{format_ref(model.model.name, model.version)} is a"
            f" {model.model.type} model; {name} is {row.dataset.type} data"
        )
    if not row.split_counts.get(request.split):
        have = ", ".join(s for s, n in row.split_counts.items() if n)
        raise InvalidInput(
            f"{format_ref(name, row.version)} has no records in split"
            f" {request.split!r}; it has {have}"
        )
    spec = {
        "model": format_ref(model.model.name, model.version),
        "dataset": format_ref(name, row.version),
        "split": request.split,
        "importance": request.importance,
    }
    return jobs.submit_builtin(
        context,
        scheduler,
        session,
        user,
        "evaluate",
        "fermion.training.evaluate",
        spec,
        name=f"evaluate-{model.model.name}"[:64],
        cpu=request.cpu,
        memory=request.memory,
    )


def train_config(request: TrainCreate, row: DatasetVersionRow) -> TrainConfig:
    """The request, completed with the defaults for the dataset's type and checked."""
    name = row.dataset.name
    kind = DatasetType(row.dataset.type)
    image_side = request.image_size or (row.spec.get("image_size") or [None])[0]
    chosen = defaults_for(kind, image_side)
    given = request.model_dump(exclude_none=True)
    options = {**chosen, **{k: v for k, v in given.items() if k in chosen}}
    if request.pretrained and not request.model:  # a pretrained model is a Hugging Face folder
        if kind is DatasetType.TEXT_CLASSIFICATION:
            options["model"] = "bert"
        elif kind is DatasetType.AUDIO_CLASSIFICATION:
            options["model"] = "hf-audio"
    options.update(
        {k: v for k, v in FINE_TUNING.get(options["model"], {}).items() if k not in given}
    )
    if not request.model_file:
        check_model_name(kind, options["model"], request.pretrained)
    reason = "decided where the job runs" if request.precision is Precision.AUTO else "as asked"
    return TrainConfig(
        dataset=format_ref(name, row.version),
        dataset_type=kind.value,
        name=request.name or f"{name}-{options['model'] if not request.model_file else 'custom'}",
        model=options["model"],
        epochs=options["epochs"],
        batch_size=options["batch_size"],
        lr=options["lr"],
        weight_decay=options["weight_decay"],
        optimizer=options["optimizer"],
        scheduler=options["scheduler"],
        warmup_ratio=options["warmup_ratio"],
        precision=request.precision.value,
        precision_reason=reason,
        grad_accum=request.grad_accum,
        max_grad_norm=options["max_grad_norm"],
        nproc=request.nproc,
        nodes=request.nodes,
        seed=request.seed,
        early_stopping=request.early_stopping,
        image_size=request.image_size,
        augment=options["augment"],
        pretrained=request.pretrained,
        model_file=request.model_file,
        register_model=request.register_model,
    )
