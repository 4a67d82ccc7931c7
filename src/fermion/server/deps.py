"""Dependencies of the API routes, as `Annotated` aliases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.orm import Session

from fermion.errors import Forbidden
from fermion.scheduler.scheduler import Scheduler
from fermion.server import audit
from fermion.server.gateway import Gateway
from fermion.server.services import auth, workspaces
from fermion.server.services.auth import Principal
from fermion.store.context import ServerContext
from fermion.store.tables import User


def get_context(request: Request) -> ServerContext:
    return request.app.state.context


ContextDep = Annotated[ServerContext, Depends(get_context)]


def get_scheduler(request: Request) -> Scheduler:
    return request.app.state.scheduler


SchedulerDep = Annotated[Scheduler, Depends(get_scheduler)]


def get_gateway(request: Request) -> Gateway:
    return request.app.state.gateway


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


def get_session(context: ContextDep) -> Iterator[Session]:
    with context.metadata.session() as session:
        yield session


# Committed before the answer leaves (scope="function"): by default FastAPI ends a yield
# dependency after the response is sent, so a client could act on a 200 whose change
# was not yet visible to its next request (or was never committed).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="an API token: Authorization: Bearer <token>")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]

SESSION_COOKIE = "fermion_session"  # the dashboard's session: HTTP-only, never seen by scripts
DASHBOARD_HEADER = "x-fermion-dashboard"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def bearer(request: Request) -> HTTPAuthorizationCredentials | None:
    """The Authorization header's bearer credentials, as `BearerDep` reads them, for code
    that runs outside FastAPI's dependencies (the inference edge)."""
    scheme, credentials = get_authorization_scheme_param(request.headers.get("authorization"))
    if scheme.lower() != "bearer" or not credentials:
        return None
    return HTTPAuthorizationCredentials(scheme=scheme, credentials=credentials)


def request_token(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str | None:
    """The bearer token, else the dashboard's session cookie. A change made with the
    cookie must carry the dashboard's own header, which a page of another origin cannot
    add without the server's consent: that is what stops cross-site request forgery."""
    if credentials:
        return credentials.credentials
    cookie = request.cookies.get(SESSION_COOKIE)
    if (
        cookie
        and request.method not in SAFE_METHODS
        and request.headers.get(DASHBOARD_HEADER) != "1"
    ):
        raise Forbidden(
            "a change made with a dashboard session needs the dashboard's X-Fermion-Dashboard"
            " header; scripts should send 'Authorization: Bearer <token>' instead"
        )
    return cookie


def get_caller(session: SessionDep, request: Request, credentials: BearerDep) -> Principal:
    """Who is calling, not yet in any workspace: for the calls about the caller's own
    account (tokens, workspaces, users)."""
    principal = auth.authenticate(session, request_token(request, credentials))
    setattr(request.state, audit.ACTOR, principal.describe())
    principal.check_scope(request.method, request.url.path)
    if principal.limits.get("read_only") and request.method not in SAFE_METHODS:
        raise Forbidden(
            "this token is read-only: it reads and calls deployments' endpoints; make"
            " changes with another (fermion token create NAME)"
        )
    if principal.deployment_id is not None:
        raise Forbidden(
            "a deployment's token can only call that deployment's endpoints"
            " (/api/v1/deployments/NAME/predict and /api/v1/deployments/NAME/v2/...)"
        )
    return principal


CallerDep = Annotated[Principal, Depends(get_caller)]


def get_principal(caller: CallerDep, session: SessionDep, request: Request) -> Principal:
    """The caller, acting in the workspace the call names (X-Fermion-Workspace, or
    ?workspace= where a header cannot be sent: an <img>), else their default one. From
    here on the request's session sees that workspace only (fermion/store/tenancy.py)."""
    requested = request.headers.get(workspaces.HEADER) or request.query_params.get("workspace")
    workspaces.enter(session, caller, requested)
    setattr(request.state, audit.WORKSPACE, caller.workspace.name)
    return caller


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_current_user(principal: PrincipalDep) -> User:
    """The calling user, in the call's workspace; a job's token counts as its owner."""
    return principal.user


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_writer(principal: PrincipalDep) -> User:
    """The calling user, for calls that change the workspace's resources: refuses a
    job's token and a viewer."""
    if principal.job_id is not None:
        raise Forbidden(
            "a job's token can read datasets and report its own job's metrics; this call"
            " needs a user token"
        )
    if principal.role == "viewer":
        raise Forbidden(
            f"you are a viewer in workspace {principal.workspace.name}: viewers read;"
            " a member or an admin can make this change"
        )
    return principal.user


Writer = Annotated[User, Depends(get_writer)]


def get_reporter(principal: PrincipalDep) -> Principal:
    """A job reporting on itself (metrics, its endpoint, its model, an evaluation) with
    its own token, or a user who may change the workspace; not a viewer."""
    if principal.job_id is None:
        get_writer(principal)
    return principal


ReporterDep = Annotated[Principal, Depends(get_reporter)]


def get_user_reader(principal: PrincipalDep) -> User:
    """The calling user, for reads that a job's token may not make (deployments' details,
    logs); any role."""
    if principal.job_id is not None:
        raise Forbidden("a job's token cannot read this; it needs a user token")
    return principal.user


Reader = Annotated[User, Depends(get_user_reader)]


def get_account_user(caller: CallerDep, request: Request) -> User:
    """The calling user (not a job) for their own account: tokens, defaults. A token
    limited to one workspace changes no account (it could mint a wider token)."""
    if caller.job_id is not None:
        raise Forbidden("a job's token cannot manage accounts; this call needs a user token")
    if caller.limits.get("workspace") and request.method not in SAFE_METHODS:
        raise Forbidden("a token limited to one workspace cannot change accounts or tokens")
    return caller.user


AccountUser = Annotated[User, Depends(get_account_user)]


def get_admin(user: AccountUser) -> User:
    if user.role != "admin":
        raise Forbidden("only an admin can manage users and workspaces")
    return user


AdminOnly = Annotated[User, Depends(get_admin)]
