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
from fermion.server.gateway import Gateway
from fermion.server.services import auth
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


SessionDep = Annotated[Session, Depends(get_session)]

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


def get_principal(session: SessionDep, request: Request, credentials: BearerDep) -> Principal:
    principal = auth.authenticate(session, request_token(request, credentials))
    principal.check_scope(request.method, request.url.path)
    if principal.deployment_id is not None:
        raise Forbidden(
            "a deployment's token can only call that deployment's endpoints"
            " (/api/v1/deployments/NAME/predict and /api/v1/deployments/NAME/v2/...)"
        )
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_current_user(principal: PrincipalDep) -> User:
    """The calling user; a job's token counts as its owner (for reading)."""
    return principal.user


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_user_not_job(principal: PrincipalDep) -> User:
    """The calling user, refusing a job's token: for calls that change things."""
    if principal.job_id is not None:
        raise Forbidden(
            "a job's token can read datasets and report its own job's metrics; this call"
            " needs a user token"
        )
    return principal.user


UserOnly = Annotated[User, Depends(get_user_not_job)]
