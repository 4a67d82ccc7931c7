from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import PlainTextResponse, StreamingResponse

from fermion.payloads import (
    CapacityPublic,
    EndpointRegister,
    JobCreate,
    JobMetrics,
    JobPublic,
    JobsPublic,
    JobStatus,
    MetricsCreate,
    TrainCreate,
    TrainPublic,
)
from fermion.resources import Resources, format_memory
from fermion.scheduler import confinement
from fermion.server.deps import (
    ContextDep,
    CurrentUser,
    PrincipalDep,
    ReporterDep,
    SchedulerDep,
    SessionDep,
    Writer,
)
from fermion.server.services import deployments, job_files, jobs, training

router = APIRouter(tags=["jobs"])


@router.post("/jobs", response_model=JobPublic, status_code=status.HTTP_201_CREATED)
def submit_job(
    request: JobCreate,
    context: ContextDep,
    scheduler: SchedulerDep,
    session: SessionDep,
    user: Writer,
) -> JobPublic:
    """Queue a command to run with the resources it asks for."""
    return jobs.submit(context, scheduler, session, user, request)


@router.post("/jobs/train", response_model=TrainPublic, status_code=status.HTTP_201_CREATED)
def submit_training(
    request: TrainCreate,
    context: ContextDep,
    scheduler: SchedulerDep,
    session: SessionDep,
    user: Writer,
) -> TrainPublic:
    """Train a model on a registered dataset with the built-in trainer, as a job."""
    return training.submit(context, scheduler, session, user, request)


@router.get("/jobs", response_model=JobsPublic)
def list_jobs(
    session: SessionDep,
    scheduler: SchedulerDep,
    user: CurrentUser,
    status: JobStatus | None = None,
) -> JobsPublic:
    return jobs.list_jobs(session, scheduler, status)


@router.get("/jobs/{job_id}", response_model=JobPublic)
def read_job(
    job_id: int, session: SessionDep, scheduler: SchedulerDep, principal: PrincipalDep
) -> JobPublic:
    return jobs.show(session, scheduler, jobs.visible(session, principal, job_id))


@router.delete("/jobs/{job_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_job(
    job_id: int, context: ContextDep, session: SessionDep, principal: PrincipalDep, _: Writer
) -> Response:
    """Remove a finished job: its row, logs, metrics, checkpoints and artifacts. Models
    registered from it stay in the registry."""
    jobs.delete(context, session, jobs.visible(session, principal, job_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/jobs/{job_id}/cancel", response_model=JobPublic)
def cancel_job(
    job_id: int,
    scheduler: SchedulerDep,
    session: SessionDep,
    principal: PrincipalDep,
    _: Writer,
) -> JobPublic:
    """Stop the job's processes (SIGTERM, then SIGKILL after the grace period)."""
    return jobs.cancel(session, scheduler, jobs.visible(session, principal, job_id))


@router.post("/jobs/{job_id}/retry", response_model=JobPublic)
def retry_job(
    job_id: int,
    scheduler: SchedulerDep,
    session: SessionDep,
    principal: PrincipalDep,
    _: Writer,
) -> JobPublic:
    """Run a failed or cancelled job again; its checkpoint folder is kept."""
    return jobs.retry(session, scheduler, jobs.visible(session, principal, job_id))


@router.get("/jobs/{job_id}/logs", response_class=PlainTextResponse)
def read_logs(
    job_id: int,
    context: ContextDep,
    session: SessionDep,
    principal: PrincipalDep,
    attempt: Annotated[int | None, Query(ge=1)] = None,
    follow: bool = False,
):
    """Every rank's output, each line prefixed with its rank under torchrun. With
    follow=true the response streams until the job ends."""
    job = jobs.visible(session, principal, job_id)
    if follow:
        return StreamingResponse(job_files.follow_log(context, job.id), media_type="text/plain")
    return PlainTextResponse(job_files.read_log(context, job, attempt))


@router.get("/jobs/{job_id}/artifacts", response_model=list[str])
def list_artifacts(
    job_id: int, context: ContextDep, session: SessionDep, principal: PrincipalDep
) -> list[str]:
    """Files the job kept with `fm.save_artifact`."""
    return job_files.artifacts(context, jobs.visible(session, principal, job_id))


@router.get("/jobs/{job_id}/artifacts/{path:path}")
def download_artifact(
    job_id: int, path: str, context: ContextDep, session: SessionDep, principal: PrincipalDep
) -> StreamingResponse:
    job = jobs.visible(session, principal, job_id)
    chunks, size, kind = job_files.artifact_download(context, job, path)
    return StreamingResponse(chunks, media_type=kind, headers={"Content-Length": str(size)})


@router.get("/jobs/{job_id}/tensorboard")
def download_tensorboard(
    job_id: int, context: ContextDep, session: SessionDep, principal: PrincipalDep
) -> Response:
    """The job's TensorBoard event files as a .tar.gz, for `tensorboard --logdir` anywhere."""
    job = jobs.visible(session, principal, job_id)
    return Response(
        job_files.tensorboard_archive(context, job),
        media_type="application/gzip",
        headers={"Content-Disposition": f'attachment; filename="job-{job.id}-tensorboard.tar.gz"'},
    )


@router.post("/jobs/{job_id}/metrics", status_code=status.HTTP_201_CREATED)
def log_metrics(
    job_id: int, body: MetricsCreate, session: SessionDep, principal: ReporterDep
) -> dict[str, int]:
    """Record metrics; what `fm.log` calls from inside a job, with the job's token."""
    job = jobs.visible(session, principal, job_id)
    return {"recorded": jobs.add_metrics(session, job, body.metrics)}


@router.get("/jobs/{job_id}/metrics", response_model=JobMetrics)
def read_metrics(
    job_id: int, session: SessionDep, principal: PrincipalDep, name: str | None = None
) -> JobMetrics:
    return jobs.metrics(session, jobs.visible(session, principal, job_id), name)


@router.get("/capacity", response_model=CapacityPublic)
def read_capacity(
    context: ContextDep, scheduler: SchedulerDep, session: SessionDep, _: CurrentUser
) -> CapacityPublic:
    """What jobs may use in all, what they use now, and what is free; and how jobs are
    kept from the server and each other."""
    total = scheduler.executor.capacity()
    used = scheduler.used(session)

    def plain(r: Resources) -> dict:
        memory = max(r.memory, 0)
        return {"cpu": r.cpu, "gpu": r.gpu, "memory": format_memory(memory), "memory_bytes": memory}

    return CapacityPublic(
        executor=scheduler.executor.name,
        total=plain(total),
        used=plain(used),
        free=plain(total - used),
        job_isolation=confinement.describe_mode(context.settings),
    )


@router.get("/jobs/{job_id}/config")
def read_job_config(
    job_id: int, context: ContextDep, session: SessionDep, principal: PrincipalDep
) -> dict:
    """The files written at submit (a trainer's train.json) and where the job's files are."""
    return job_files.config(context, jobs.visible(session, principal, job_id))


@router.put("/jobs/{job_id}/endpoint", status_code=status.HTTP_204_NO_CONTENT)
def register_endpoint(
    job_id: int, body: EndpointRegister, session: SessionDep, principal: ReporterDep
) -> None:
    """A replica tells where it listens (with its own job's token)."""
    job = jobs.visible(session, principal, job_id)
    deployments.set_endpoint(session, job, body.url, body.key)
