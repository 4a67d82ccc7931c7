"""`POST /models/{name}/versions/{version}/explain`: one input's answer explained.

Where a deployment serves that version on the torch runtime, one of its replicas
explains (the model is loaded there already: milliseconds). Otherwise a job of kind
`explain` does (fermion.training.explain: a model folder may hold its user's code, and
is never loaded in the server), and the call waits for it: seconds, most of them
starting a Python process with PyTorch."""

from __future__ import annotations

import asyncio
import json
import time

from sqlalchemy.orm import Session

from fermion.errors import InvalidInput, ServerUnavailable, StillRunning, error_from_body
from fermion.payloads import DatasetType, ExplainCreate, Explanation, JobPublic, JobStatus
from fermion.payloads.explanations import EXPLAIN_METHODS
from fermion.refs import format_ref
from fermion.scheduler.scheduler import Scheduler, job_files
from fermion.server.gateway import Gateway
from fermion.server.services import jobs
from fermion.store.context import ServerContext
from fermion.store.tables import JobRow, ModelVersionRow, User

MODULE = "fermion.training.explain"
RESULT_FILE = "explanation.json"  # what the job writes under its artifacts
POLL_S = 0.05
WAIT_S = 300.0


def input_kind(model_type: str) -> str:
    kind = DatasetType(model_type)
    if kind is DatasetType.IMAGE_CLASSIFICATION:
        return "image"
    if kind is DatasetType.TEXT_CLASSIFICATION:
        return "text"
    if kind.value.startswith("tabular"):
        return "tabular"
    raise InvalidInput(
        f"explanations cover {', '.join(EXPLAIN_METHODS)} models; {kind.value} models have none"
    )


def serving(model: ModelVersionRow) -> list[str]:
    """The deployments that serve this version with PyTorch (which has gradients)."""
    return [d.name for d in model.deployments if d.runtime == "torch"]


async def from_replica(
    gateway: Gateway, deployments: list[str], ref: str, request: ExplainCreate
) -> Explanation | None:
    """The explanation from a ready replica serving `ref`; None when none does (a
    rolling update may have replicas of another version: those are passed over)."""
    body = request.model_dump_json(include={"input", "target", "method"}).encode()
    headers = {"content-type": "application/json"}
    for name in deployments:
        if not gateway.has_ready(name):
            continue
        try:
            answer = await gateway.forward(name, "POST", "explain", body, headers, "")
        except ServerUnavailable:
            continue
        if answer.status != 200:  # the input is wrong: a job would say the same
            raise error_from_body(answer.status, _json(answer.content))
        found = Explanation.model_validate_json(answer.content)
        if found.model == ref:
            return found
    return None


def _json(content: bytes) -> object:
    try:
        return json.loads(content)
    except ValueError:
        return content.decode(errors="replace")


def submit(
    context: ServerContext,
    scheduler: Scheduler,
    session: Session,
    user: User,
    model: ModelVersionRow,
    request: ExplainCreate,
) -> JobPublic:
    kind = input_kind(model.model.type)  # refuses kinds that have no explanations
    if request.method is not None and request.method not in EXPLAIN_METHODS[kind]:
        offered = " or ".join(EXPLAIN_METHODS[kind])
        raise InvalidInput(f"{request.method} does not explain {kind} models; use {offered}")
    if request.input is None:
        raise InvalidInput('"input" is missing: send the one input to explain')
    spec = {
        "model": format_ref(model.model.name, model.version),
        **request.model_dump(include={"input", "target", "method"}),
    }
    return jobs.submit_builtin(
        context,
        scheduler,
        session,
        user,
        "explain",
        MODULE,
        spec,
        name=f"explain-{model.model.name}"[:64],
        cpu=request.cpu,
        memory=request.memory,
    )


async def result(context: ServerContext, job_id: int, wait_s: float = WAIT_S) -> Explanation:
    """The job's Explanation, once it has one; its failure as a 400 (the input or the
    target was wrong: its own error line says which)."""
    deadline = time.monotonic() + wait_s
    while True:
        status, reason = _status(context, job_id)
        if status is JobStatus.SUCCEEDED:
            path = job_files(context, job_id).artifacts / RESULT_FILE
            return Explanation.model_validate_json(path.read_bytes())
        if status.is_terminal:
            raise InvalidInput(
                f"could not explain: {reason or status.value} (fermion job logs {job_id})"
            )
        if time.monotonic() > deadline:
            raise StillRunning(
                f"the explanation is still {status.value} in job {job_id}; its artifact"
                f" {RESULT_FILE} will hold it (fermion job artifacts {job_id})"
            )
        await asyncio.sleep(POLL_S)


def _status(context: ServerContext, job_id: int) -> tuple[JobStatus, str | None]:
    with context.metadata.session() as session:
        job = session.get(JobRow, job_id)
        return JobStatus(job.status), job.failure_reason
