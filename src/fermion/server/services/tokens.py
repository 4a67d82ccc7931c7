"""A user's API tokens: create (the secret returned once), list, revoke. Job and
deployment tokens and dashboard sessions are the server's own and are not listed here.
Revocation and expiry take effect on the next request: every request looks its token up."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fermion.errors import NotFound
from fermion.payloads import TokenCreate, TokenCreated, TokenPublic, TokensPublic
from fermion.payloads.tokens import parse_duration
from fermion.server.services import workspaces
from fermion.server.services.auth import SESSION_NAME, find_token, issue_token
from fermion.store.tables import Token, User, is_row_id


def create(session: Session, user: User, request: TokenCreate) -> TokenCreated:
    expires = None
    if request.expires is not None:
        expires = datetime.now(UTC) + parse_duration(request.expires)
    if request.workspace is not None:
        workspace = workspaces.by_name(session, request.workspace)
        if workspaces.role_in(session, user, workspace) is None:
            raise workspaces.not_found(request.workspace)
    scope = {"read_only": True} if request.read_only else {}
    scope |= {"workspace": request.workspace} if request.workspace else {}
    secret = issue_token(session, user, request.name, expires_at=expires, scope=scope or None)
    session.commit()
    row = find_token(session, secret)
    return TokenCreated(**public(row).model_dump(), token=secret)


def _own(user: User):  # noqa: ANN202 - a query
    return select(Token).where(
        Token.user_id == user.id,
        Token.job_id.is_(None),
        Token.deployment_id.is_(None),
        Token.name != SESSION_NAME,
    )


def list_tokens(session: Session, user: User) -> TokensPublic:
    rows = session.scalars(_own(user).order_by(Token.id)).all()
    return TokensPublic(data=[public(r) for r in rows], count=len(rows))


def revoke(session: Session, user: User, token_id: int) -> None:
    row = session.scalar(_own(user).where(Token.id == token_id)) if is_row_id(token_id) else None
    if row is None:
        raise NotFound(f"token {token_id} not found; `fermion token list` shows yours")
    session.delete(row)
    session.commit()


def public(row: Token) -> TokenPublic:
    scope = row.scope or {}
    return TokenPublic(
        id=row.id,
        name=row.name,
        created_at=row.created_at,
        expires_at=row.expires_at,
        read_only=bool(scope.get("read_only")),
        workspace=scope.get("workspace"),
    )
