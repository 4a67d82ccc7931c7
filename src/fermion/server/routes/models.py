from fastapi import APIRouter, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from fermion.payloads import (
    EvaluationCreate,
    EvaluationRecord,
    ExplainCreate,
    Explanation,
    ExportCreate,
    ImportCreate,
    JobPublic,
    ModelFiles,
    ModelImport,
    ModelPublic,
    ModelRegister,
    ModelsPublic,
    ModelVersionPublic,
)
from fermion.refs import format_ref
from fermion.server.deps import (
    ContextDep,
    CurrentUser,
    GatewayDep,
    ReporterDep,
    SchedulerDep,
    SessionDep,
    Writer,
)
from fermion.server.routes.datasets import _version
from fermion.server.services import conversions, explanations, jobs, models, training
from fermion.store.tables import JobRow, ModelVersionRow

router = APIRouter(tags=["models"])


@router.post(
    "/jobs/{job_id}/model", response_model=ModelVersionPublic, status_code=status.HTTP_201_CREATED
)
def register_model(
    job_id: int,
    body: ModelRegister,
    context: ContextDep,
    session: SessionDep,
    principal: ReporterDep,
    scheduler: SchedulerDep,
) -> ModelVersionPublic:
    """Register the model a job wrote (the trainer calls this with its job's token)."""
    job = jobs.visible(session, principal, job_id)
    if job.handle:  # running, maybe on a node of its own: its newest files first
        scheduler.executor.sync(job.handle)
    return models.register_from_job(context, session, job, body.name, body.folder)


@router.post(
    "/models/import", response_model=ModelVersionPublic, status_code=status.HTTP_201_CREATED
)
def import_model(
    body: ModelImport, context: ContextDep, session: SessionDep, user: Writer
) -> ModelVersionPublic:
    """Register an uploaded model folder (made by `fermion model import`)."""
    return models.import_model(context, session, user, body.name, body.upload)


@router.post("/models/imports", response_model=JobPublic, status_code=status.HTTP_201_CREATED)
def import_model_job(
    body: ImportCreate,
    context: ContextDep,
    scheduler: SchedulerDep,
    session: SessionDep,
    user: Writer,
) -> JobPublic:
    """Queue a job that makes an uploaded model trained elsewhere (a torchvision state dict
    with a label map, or a Hugging Face folder) into a model folder and registers it."""
    return conversions.submit_import(context, scheduler, session, user, body)


@router.get("/models", response_model=ModelsPublic)
def list_models(session: SessionDep, _: CurrentUser, job_id: int | None = None) -> ModelsPublic:
    return models.list_models(session, job_id)


@router.get("/models/{name}", response_model=ModelPublic)
def read_model(name: str, session: SessionDep, _: CurrentUser) -> ModelPublic:
    return models.model_public(models.get_model(session, name))


@router.delete("/models/{name}", response_model=list[str])
def delete_model(name: str, context: ContextDep, session: SessionDep, _: Writer) -> list[str]:
    """Delete every version; refused while a deployment serves one."""
    return models.delete(context, session, name, None)


@router.get("/models/{name}/versions/{version}", response_model=ModelVersionPublic)
def read_model_version(
    name: str, version: str, session: SessionDep, _: CurrentUser
) -> ModelVersionPublic:
    return models.version_public(models.get_version(session, name, _version(version)))


@router.delete("/models/{name}/versions/{version}", response_model=list[str])
def delete_model_version(
    name: str, version: str, context: ContextDep, session: SessionDep, _: Writer
) -> list[str]:
    number = models.get_version(session, name, _version(version)).version  # "latest" too
    return models.delete(context, session, name, number)


@router.get("/models/{name}/versions/{version}/files", response_model=ModelFiles)
def list_model_files(
    name: str, version: str, context: ContextDep, session: SessionDep, _: CurrentUser
) -> ModelFiles:
    return models.files(context, models.get_version(session, name, _version(version)))


@router.get("/models/{name}/versions/{version}/files/{path:path}")
def download_model_file(
    name: str, version: str, path: str, context: ContextDep, session: SessionDep, _: CurrentUser
) -> StreamingResponse:
    """One file of a model version (replicas and exports fetch models this way)."""
    row = models.get_version(session, name, _version(version))
    return StreamingResponse(
        models.open_file(context, row, path), media_type="application/octet-stream"
    )


@router.post(
    "/models/{name}/versions/{version}/evaluate",
    response_model=JobPublic,
    status_code=status.HTTP_201_CREATED,
)
def evaluate_model(
    name: str,
    version: str,
    body: EvaluationCreate,
    context: ContextDep,
    scheduler: SchedulerDep,
    session: SessionDep,
    user: Writer,
) -> JobPublic:
    """Queue a job that evaluates the model on a dataset split."""
    row = models.get_version(session, name, _version(version))
    models.require_pytorch(row, "evaluation on another dataset")
    return training.submit_evaluation(context, scheduler, session, user, row, body)


@router.post("/models/{name}/versions/{version}/explain", response_model=Explanation)
@router.post("/models/{name}/explain", response_model=Explanation)
async def explain_model(
    name: str,
    body: ExplainCreate,
    context: ContextDep,
    scheduler: SchedulerDep,
    session: SessionDep,
    user: Writer,
    gateway: GatewayDep,
    version: str = "latest",
) -> Explanation:
    """Explain one input's answer (attributions per pixel, token or feature): by a
    replica of a deployment serving this version, else in a job of kind `explain` that
    the call waits for (a 504 names the job if it waits too long)."""

    def find() -> tuple[ModelVersionRow, str, list[str]]:
        row = models.get_version(session, name, _version(version))
        return row, format_ref(row.model.name, row.version), explanations.serving(row)

    row, ref, deployed = await run_in_threadpool(find)
    models.require_pytorch(row, "explanation")
    found = await explanations.from_replica(gateway, deployed, ref, body)
    if found is not None:
        return found
    job = await run_in_threadpool(explanations.submit, context, scheduler, session, user, row, body)
    session.close()  # nothing is held while the job runs
    return await explanations.result(context, job.id)


@router.post(
    "/models/{name}/versions/{version}/export",
    response_model=JobPublic,
    status_code=status.HTTP_201_CREATED,
)
def export_model(
    name: str,
    version: str,
    body: ExportCreate,
    context: ContextDep,
    scheduler: SchedulerDep,
    session: SessionDep,
    user: Writer,
) -> JobPublic:
    """Queue a job that exports the model (ONNX or TorchScript, checked against PyTorch);
    the export is the job's artifacts under export/."""
    row = models.get_version(session, name, _version(version))
    models.require_pytorch(row, "export (ONNX, TorchScript)")
    return conversions.submit_export(context, scheduler, session, user, row, body)


@router.post("/models/{name}/versions/{version}/evaluations", response_model=ModelVersionPublic)
def record_evaluation(
    name: str,
    version: str,
    body: EvaluationRecord,
    context: ContextDep,
    session: SessionDep,
    principal: ReporterDep,
) -> ModelVersionPublic:
    """An evaluation job reports its result (with its job's token)."""
    row = models.get_version(session, name, _version(version))
    if principal.job_id is not None:
        models.check_evaluator(context, session.get(JobRow, principal.job_id), row)
    return models.add_evaluation(session, row, body, principal.job_id)
