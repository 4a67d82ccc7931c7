"""The dashboard's sign-in: an API token is exchanged for a session of its own (a token
that expires), kept in a Secure, HTTP-only, SameSite=Strict cookie. Signing out deletes
that session, so the cookie is worthless afterwards even if it was copied."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request, Response, status

from fermion.errors import Forbidden
from fermion.payloads import SessionCreate, UserPublic
from fermion.server.deps import SESSION_COOKIE, PrincipalDep, SessionDep
from fermion.server.services import auth, users

router = APIRouter(prefix="/api/v1/session", tags=["session"])

SESSION_NAME = "dashboard session"
SESSION_HOURS = 12


@router.post("", response_model=UserPublic)
def sign_in(body: SessionCreate, response: Response, session: SessionDep) -> UserPublic:
    principal = auth.authenticate(session, body.token)
    if principal.job_id is not None or principal.deployment_id is not None:
        raise Forbidden("sign in with a user's API token, not a job's or a deployment's")
    expires = datetime.now(UTC) + timedelta(hours=SESSION_HOURS)
    secret = auth.issue_token(session, principal.user, SESSION_NAME, expires_at=expires)
    session.commit()
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=SESSION_HOURS * 3600,
        path="/",
        secure=True,
        httponly=True,
        samesite="strict",
    )
    return users.to_public(principal.user)


@router.get("", response_model=UserPublic)
def current_user(principal: PrincipalDep) -> UserPublic:
    return users.to_public(principal.user)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
def sign_out(request: Request, response: Response, session: SessionDep) -> None:
    cookie = request.cookies.get(SESSION_COOKIE)
    row = auth.find_token(session, cookie) if cookie else None
    if row is not None and row.name == SESSION_NAME:
        session.delete(row)
        session.commit()
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
