"""The dashboard's sign-in: an API token is exchanged for a session of its own (a token
that expires), kept in a Secure, HTTP-only, SameSite=Strict cookie. Signing out deletes
that session, so the cookie is worthless afterwards even if it was copied."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from fermion.payloads import SessionCreate, UserPublic
from fermion.server import audit
from fermion.server.deps import SESSION_COOKIE, CallerDep, SessionDep
from fermion.server.services import auth, users

router = APIRouter(prefix="/api/v1/session", tags=["session"])

SESSION_HOURS = 12


@router.post("", response_model=UserPublic)
def sign_in(
    body: SessionCreate, request: Request, response: Response, session: SessionDep
) -> UserPublic:
    principal, secret = auth.open_dashboard_session(session, body.token, SESSION_HOURS)
    setattr(request.state, audit.ACTOR, principal.describe())  # who signed in
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=SESSION_HOURS * 3600,
        path="/",
        secure=True,
        httponly=True,
        samesite="strict",
    )
    return users.to_public(session, principal.user)


@router.get("", response_model=UserPublic)
def current_user(principal: CallerDep, session: SessionDep) -> UserPublic:
    return users.to_public(session, principal.user)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
def sign_out(request: Request, response: Response, session: SessionDep) -> None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        setattr(request.state, audit.ACTOR, auth.close_dashboard_session(session, cookie))
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
