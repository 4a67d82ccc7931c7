from fastapi import APIRouter, Request, status
from fastapi.responses import StreamingResponse

from fermion.payloads import (
    DeploymentAutoscale,
    DeploymentCreate,
    DeploymentPublic,
    DeploymentScale,
    DeploymentsPublic,
    DeploymentToken,
    DeploymentUpdate,
)
from fermion.server.deps import (
    ContextDep,
    GatewayDep,
    PrincipalDep,
    Reader,
    SchedulerDep,
    SessionDep,
    Writer,
)
from fermion.server.services import deployments
from fermion.server.services.deployment_logs import follow_logs, read_logs

router = APIRouter(prefix="/deployments", tags=["deployments"])


@router.post("", response_model=DeploymentPublic, status_code=status.HTTP_201_CREATED)
def create_deployment(
    request: DeploymentCreate,
    context: ContextDep,
    scheduler: SchedulerDep,
    session: SessionDep,
    user: Writer,
) -> DeploymentPublic:
    """Serve a registered model with N replicas."""
    return deployments.create(context, scheduler, session, user, request)


@router.get("", response_model=DeploymentsPublic)
def list_deployments(context: ContextDep, session: SessionDep, user: Reader) -> DeploymentsPublic:
    return deployments.list_deployments(context, session)


@router.get("/{name}", response_model=DeploymentPublic)
def read_deployment(
    name: str,
    context: ContextDep,
    session: SessionDep,
    gateway: GatewayDep,
    principal: PrincipalDep,
    _: Reader,
) -> DeploymentPublic:
    found = deployments.to_public(context, deployments.find(session, name))
    if found.autoscaling is not None:  # the load it scales on, as the gateway counts it
        found.in_flight = round(gateway.meter.recent(name), 2)
    return found


@router.post("/{name}/scale", response_model=DeploymentPublic)
def scale_deployment(
    name: str,
    body: DeploymentScale,
    context: ContextDep,
    scheduler: SchedulerDep,
    session: SessionDep,
    principal: PrincipalDep,
    _: Writer,
) -> DeploymentPublic:
    row = deployments.find(session, name)
    return deployments.scale(context, scheduler, session, row, body.replicas)


@router.put("/{name}/autoscaling", response_model=DeploymentPublic)
def autoscale_deployment(
    name: str,
    body: DeploymentAutoscale,
    context: ContextDep,
    scheduler: SchedulerDep,
    session: SessionDep,
    principal: PrincipalDep,
    _: Writer,
) -> DeploymentPublic:
    """Let the deployment set its replicas from its load, within bounds (null: by hand)."""
    row = deployments.find(session, name)
    return deployments.set_autoscaling(context, scheduler, session, row, body.autoscaling)


@router.post("/{name}/update", response_model=DeploymentPublic)
def update_deployment(
    name: str,
    body: DeploymentUpdate,
    context: ContextDep,
    scheduler: SchedulerDep,
    session: SessionDep,
    principal: PrincipalDep,
    _: Writer,
) -> DeploymentPublic:
    """Roll the replicas to another model version, one at a time."""
    row = deployments.find(session, name)
    return deployments.update(context, scheduler, session, row, body.model)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_deployment(
    name: str,
    scheduler: SchedulerDep,
    session: SessionDep,
    principal: PrincipalDep,
    _: Writer,
) -> None:
    deployments.delete(scheduler, session, deployments.find(session, name))


@router.post("/{name}/tokens", response_model=DeploymentToken, status_code=status.HTTP_201_CREATED)
def create_deployment_token(
    name: str, session: SessionDep, principal: PrincipalDep, user: Writer
) -> DeploymentToken:
    """A token that calls this deployment's endpoints and nothing else."""
    row = deployments.find(session, name)
    return deployments.deployment_token(session, row, user)


@router.get("/{name}/metrics")
async def deployment_metrics(
    name: str, request: Request, session: SessionDep, principal: PrincipalDep, _: Reader
) -> dict:
    """Its replicas' Prometheus counters, summed (the dashboard charts their rates)."""
    deployments.find(session, name)
    return await request.app.state.gateway.metrics(name)


@router.get("/{name}/logs")
def deployment_logs(
    name: str,
    context: ContextDep,
    session: SessionDep,
    principal: PrincipalDep,
    _: Reader,
    follow: bool = False,
) -> StreamingResponse:
    """Every replica's log, each line prefixed with its replica; `follow` streams on."""
    row = deployments.find(session, name)
    if follow:
        return StreamingResponse(follow_logs(context, row.id), media_type="text/plain")
    return StreamingResponse(iter([read_logs(context, session, row)]), media_type="text/plain")
