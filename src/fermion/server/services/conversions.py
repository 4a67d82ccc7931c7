"""`fermion model export` and `fermion model import` as jobs (fermion.serving.convert):
the conversion runs with the job's resources and queue place, never in the server, and
what it makes comes back as the job's artifacts (an export) or a registered model (an
import)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from fermion.errors import Conflict
from fermion.payloads import ExportCreate, ImportCreate, JobPublic
from fermion.refs import format_ref
from fermion.scheduler.scheduler import Scheduler
from fermion.server.services import jobs
from fermion.store.context import ServerContext
from fermion.store.tables import ModelRow, ModelVersionRow, User

MODULE = "fermion.serving.convert"


def submit_export(
    context: ServerContext,
    scheduler: Scheduler,
    session: Session,
    user: User,
    model: ModelVersionRow,
    request: ExportCreate,
) -> JobPublic:
    ref = format_ref(model.model.name, model.version)
    spec = {"action": "export", "model": ref, "format": request.format}
    return jobs.submit_builtin(
        context,
        scheduler,
        session,
        user,
        "export",
        MODULE,
        spec,
        name=f"export-{model.model.name}"[:64],
        cpu=request.cpu,
        memory=request.memory,
    )


def submit_import(
    context: ServerContext,
    scheduler: Scheduler,
    session: Session,
    user: User,
    request: ImportCreate,
) -> JobPublic:
    existing = session.scalar(select(ModelRow).where(ModelRow.name == request.name))
    if existing is not None and existing.versions and existing.type != request.type.value:
        raise Conflict(
            f"model {request.name!r} exists for {existing.type} data, not"
            f" {request.type.value}; pick another name"
        )
    spec = {
        "action": "import",
        **request.model_dump(mode="json", exclude={"code", "cpu", "memory"}),
    }
    return jobs.submit_builtin(
        context,
        scheduler,
        session,
        user,
        "import",
        MODULE,
        spec,
        name=f"import-{request.name}"[:64],
        cpu=request.cpu,
        memory=request.memory,
        code=request.code,
    )
