from fastapi import APIRouter, status

from fermion.payloads import ModelPublic, ModelRegister, ModelsPublic, ModelVersionPublic
from fermion.server.deps import ContextDep, CurrentUser, PrincipalDep, SessionDep
from fermion.server.routes.datasets import _version
from fermion.server.services import jobs, models

router = APIRouter(tags=["models"])


@router.post("/jobs/{job_id}/model", response_model=ModelVersionPublic,
             status_code=status.HTTP_201_CREATED)  # fmt: skip
def register_model(
    job_id: int, body: ModelRegister, context: ContextDep, session: SessionDep,
    principal: PrincipalDep,
) -> ModelVersionPublic:  # fmt: skip
    """Register the model a job wrote (the trainer calls this with its job's token)."""
    job = jobs.visible(session, principal, job_id)
    return models.register_from_job(context, session, job, body.name, body.folder)


@router.get("/models", response_model=ModelsPublic)
def list_models(session: SessionDep, _: CurrentUser, job_id: int | None = None) -> ModelsPublic:
    return models.list_models(session, job_id)


@router.get("/models/{name}", response_model=ModelPublic)
def read_model(name: str, session: SessionDep, _: CurrentUser) -> ModelPublic:
    return models.model_public(models.get_model(session, name))


@router.get("/models/{name}/versions/{version}", response_model=ModelVersionPublic)
def read_model_version(
    name: str, version: str, session: SessionDep, _: CurrentUser
) -> ModelVersionPublic:
    return models.version_public(models.get_version(session, name, _version(version)))
