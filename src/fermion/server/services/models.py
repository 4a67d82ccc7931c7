"""The model registry: versioned models (safetensors weights, config, labels,
preprocessing, metrics), each linked to the job and dataset version that made it.

Registration copies a finished job's model folder into the artifact store; the row is
committed only once every file is there."""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fermion.errors import Conflict, Forbidden, InvalidInput, NotFound
from fermion.modelfile import read_manifest
from fermion.payloads import (
    EvaluationRecord,
    ModelFiles,
    ModelPublic,
    ModelsPublic,
    ModelVersionPublic,
)
from fermion.refs import format_ref, pick_version
from fermion.scheduler.outputs import copy_job_folder, read_job_file
from fermion.scheduler.scheduler import job_files, now
from fermion.server.services import encryption, stored_files, uploads
from fermion.store.context import ServerContext
from fermion.store.tables import (
    DeploymentRow,
    JobRow,
    ModelRow,
    ModelVersionRow,
    ReplicaRow,
    User,
)


def version_public(row: ModelVersionRow) -> ModelVersionPublic:
    return ModelVersionPublic(
        name=row.model.name,
        version=row.version,
        ref=format_ref(row.model.name, row.version),
        type=row.model.type,
        uri=row.uri,
        job_id=row.job_id,
        dataset=row.dataset,
        metrics=row.metrics,
        config=row.config,
        evaluations=row.evaluations or [],
        encrypted=row.sealed,
        deployments=[d.name for d in row.deployments],
        created_at=row.created_at,
    )


def model_public(row: ModelRow) -> ModelPublic:
    return ModelPublic(
        name=row.name,
        type=row.type,
        created_at=row.created_at,
        versions=[version_public(v) for v in row.versions],
    )


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


def require_pytorch(row: ModelVersionRow, work: str) -> None:
    """Refuse work that only PyTorch model folders support, for a Keras model."""
    if (row.config or {}).get("framework") == "keras":
        raise InvalidInput(
            f"{format_ref(row.model.name, row.version)} is a Keras model: {work} runs on"
            " PyTorch models (its test metrics were measured when fm.keras saved it)"
        )


def register_from_job(
    context: ServerContext, session: Session, job: JobRow, name: str, folder: str
) -> ModelVersionPublic:
    """Register a folder of the job's own output. It is copied first, without following
    links: the job may still be changing it, and the server reads with its own rights."""
    with tempfile.TemporaryDirectory(dir=context.scratch) as tmp:
        output = job_files(context, job.id).artifacts
        source = copy_job_folder(output, folder, Path(tmp) / "model", job.id)
        return _register(context, session, source, name, owner_id=job.owner_id, job_id=job.id)


def import_model(
    context: ServerContext, session: Session, user: User, name: str, upload: str
) -> ModelVersionPublic:
    """Register a model folder made elsewhere (`fermion model import` converts one)."""
    try:
        with tempfile.TemporaryDirectory(dir=context.scratch) as tmp:
            folder = Path(tmp) / "x" / uploads.extract(context, upload, Path(tmp) / "x")
            return _register(context, session, folder, name, owner_id=user.id, job_id=None)
    finally:
        uploads.delete(context, upload)


def _register(
    context: ServerContext,
    session: Session,
    source: Path,
    name: str,
    owner_id: int | None,
    job_id: int | None,
) -> ModelVersionPublic:
    manifest = read_manifest(source)  # refuses a folder a replica could not read
    kind, config = manifest.kind.value, manifest.spec.model_dump(mode="json")
    model = session.scalar(select(ModelRow).where(ModelRow.name == name))
    if model is not None and model.versions and model.type != kind:
        raise Conflict(
            f"model {name!r} exists for {model.type} data, not {kind}; pick another name"
        )
    key = f"models/{name}/{uuid.uuid4().hex[:12]}"
    with encryption.sealing(context, session) as seal:  # held until the row is committed
        try:
            context.artifacts.put_dir(source, key, seal=seal)
            if model is None:
                model = ModelRow(name=name, type=kind, owner_id=owner_id, next_version=1)
                session.add(model)
            row = ModelVersionRow(
                model=model,
                version=model.next_version,
                uri=context.artifacts.uri(key),
                job_id=job_id,
                dataset=manifest.spec.dataset,
                metrics=manifest.metrics,
                config=config,
                evaluations=[],
                sealed=seal is not None,
            )
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


# -- files, evaluations, deleting -------------------------------------------------------
def files(context: ServerContext, row: ModelVersionRow) -> ModelFiles:
    ref = format_ref(row.model.name, row.version)
    return ModelFiles(ref=ref, files=stored_files.listing(context, row.uri))


def open_file(context: ServerContext, row: ModelVersionRow, path: str) -> Iterator[bytes]:
    return stored_files.chunks(context, row.uri, path, format_ref(row.model.name, row.version))


def check_evaluator(context: ServerContext, job: JobRow, row: ModelVersionRow) -> None:
    """A job reports an evaluation only of the model version it was queued to evaluate."""
    ref = format_ref(row.model.name, row.version)
    asked = _evaluated_by(context, job) if job.kind == "evaluate" else None
    if asked != ref:
        raise Forbidden(f"job {job.id} was not queued to evaluate {ref}; it cannot report on it")


def _evaluated_by(context: ServerContext, job: JobRow) -> str | None:
    files = job_files(context, job.id)
    try:  # the job's own folder: it may have removed, mangled or linked the file
        spec = json.loads(read_job_file(files.root, files.code / "evaluate.json"))
        return spec.get("model") if isinstance(spec, dict) else None
    except ValueError:
        return None


def add_evaluation(
    session: Session, row: ModelVersionRow, record: EvaluationRecord, job_id: int | None
) -> ModelVersionPublic:
    entry = {**record.model_dump(), "job_id": job_id, "created_at": now().isoformat()}
    row.evaluations = [*(row.evaluations or []), entry]
    session.commit()
    return version_public(row)


def delete(context: ServerContext, session: Session, name: str, version: int | None) -> list[str]:
    """Delete one version, or the whole model; refused while a deployment serves it."""
    model = get_model(session, name)
    doomed = [get_version(session, name, version)] if version else list(model.versions)
    ids = [v.id for v in doomed]
    users = set(
        session.scalars(select(DeploymentRow.name).where(DeploymentRow.model_version_id.in_(ids)))
    ) | set(
        session.scalars(
            select(DeploymentRow.name)
            .join(ReplicaRow, ReplicaRow.deployment_id == DeploymentRow.id)
            .where(ReplicaRow.model_version_id.in_(ids))
        )
    )
    refs = [format_ref(name, v.version) for v in doomed]
    if users:
        listed = ", ".join(sorted(users))
        raise Conflict(
            f"{' and '.join(refs) if version else name} is served by deployment {listed};"
            f" delete that deployment, or update it to another model, first"
        )
    stored_files.delete_versions(context, session, model, doomed)
    return refs
