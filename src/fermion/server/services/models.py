"""The model registry: versioned models (safetensors weights, config, labels,
preprocessing, metrics), each linked to the job and dataset version that made it.

Registration copies a finished job's model folder into the artifact store; the row is
committed only once every file is there."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fermion.errors import Conflict, InvalidInput, NotFound
from fermion.payloads import ModelPublic, ModelsPublic, ModelVersionPublic
from fermion.refs import format_ref, pick_version
from fermion.scheduler.scheduler import job_files
from fermion.server.context import ServerContext
from fermion.store.tables import JobRow, ModelRow, ModelVersionRow

REQUIRED = ("model.safetensors", "config.json", "labels.json", "preprocessing.json")


def version_public(row: ModelVersionRow) -> ModelVersionPublic:
    return ModelVersionPublic(
        name=row.model.name, version=row.version, ref=format_ref(row.model.name, row.version),
        type=row.model.type, uri=row.uri, job_id=row.job_id, dataset=row.dataset,
        metrics=row.metrics, config=row.config, created_at=row.created_at,
    )  # fmt: skip


def model_public(row: ModelRow) -> ModelPublic:
    return ModelPublic(name=row.name, type=row.type, created_at=row.created_at,
                       versions=[version_public(v) for v in row.versions])  # fmt: skip


def list_models(session: Session, job_id: int | None = None) -> ModelsPublic:
    rows = session.scalars(select(ModelRow).order_by(ModelRow.name)).all()
    data = [model_public(r) for r in rows if r.versions]
    if job_id is not None:
        data = [m for m in data if any(v.job_id == job_id for v in m.versions)]
    return ModelsPublic(data=data, count=len(data))


def get_model(session: Session, name: str) -> ModelRow:
    row = session.scalar(select(ModelRow).where(ModelRow.name == name))
    if row is None or not row.versions:
        raise NotFound(f"model {name!r} not found; `fermion model list` shows the models")
    return row


def get_version(session: Session, name: str, version: int | None) -> ModelVersionRow:
    return pick_version(get_model(session, name).versions, version, "model", name)


def register_from_job(
    context: ServerContext, session: Session, job: JobRow, name: str, folder: str
) -> ModelVersionPublic:
    source = job_files(context, job.id).artifacts / folder
    missing = [f for f in REQUIRED if not (source / f).is_file()]
    if missing:
        raise InvalidInput(f"job {job.id} has no model to register in {folder}/: missing {missing}")
    config = json.loads((source / "config.json").read_text())
    metrics_file = source / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
    kind = config.get("dataset_type", "")
    model = session.scalar(select(ModelRow).where(ModelRow.name == name))
    if model is not None and model.versions and model.type != kind:
        raise Conflict(
            f"model {name!r} exists for {model.type} data, not {kind}; pick another name"
        )
    key = f"models/{name}/{uuid.uuid4().hex[:12]}"
    context.artifacts.put_dir(source, key)
    try:
        if model is None:
            model = ModelRow(name=name, type=kind, owner_id=job.owner_id, next_version=1)
            session.add(model)
        row = ModelVersionRow(model=model, version=model.next_version, uri=context.artifacts.uri(key),
                              job_id=job.id, dataset=config.get("dataset", ""),
                              metrics=metrics, config=config)  # fmt: skip
        session.add(row)
        model.next_version += 1
        session.commit()
    except IntegrityError:
        session.rollback()
        context.artifacts.delete(key)
        raise Conflict(f"model {name!r} was changed at the same time; retry") from None
    except BaseException:
        session.rollback()
        context.artifacts.delete(key)
        raise
    session.refresh(row)
    return version_public(row)
