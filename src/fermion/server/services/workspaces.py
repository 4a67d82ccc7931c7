"""Workspaces: which one a call acts in, who belongs to which, and their quotas.

A call names its workspace with the X-Fermion-Workspace header (the CLI's --workspace,
FERMION_WORKSPACE, `fermion workspace use`), else acts in the caller's default one. A
job's and a deployment's tokens act in their own workspace only. A workspace the caller
does not belong to is "not found", like one that does not exist; admins belong to all.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fermion.errors import Conflict, Forbidden, InvalidInput, NotFound
from fermion.payloads import (
    MemberAdd,
    MemberPublic,
    Quota,
    WorkspaceCreate,
    WorkspacePublic,
    WorkspacesPublic,
)
from fermion.resources import format_memory, parse_memory
from fermion.server.services import encryption
from fermion.server.services.auth import Principal
from fermion.store import tenancy
from fermion.store.context import ServerContext
from fermion.store.tables import DeploymentRow, JobRow, User
from fermion.store.tenancy import MembershipRow, WorkspaceRow

HEADER = "x-fermion-workspace"


def not_found(name: str) -> NotFound:
    return NotFound(f"workspace {name!r} not found; `fermion workspace list` shows yours")


def by_name(session: Session, name: str) -> WorkspaceRow:
    row = session.scalar(select(WorkspaceRow).where(WorkspaceRow.name == name))
    if row is None:
        raise not_found(name)
    return row


def role_in(session: Session, user: User, workspace: WorkspaceRow) -> str | None:
    """admin, member, viewer; None for a user who does not belong to it."""
    if user.role == "admin":
        return "admin"
    membership = _membership(session, workspace, user)
    return membership.role if membership is not None else None


def _membership(session: Session, workspace: WorkspaceRow, user: User) -> MembershipRow | None:
    return session.scalar(
        select(MembershipRow).where(
            MembershipRow.workspace_id == workspace.id, MembershipRow.user_id == user.id
        )
    )


def enter(session: Session, principal: Principal, requested: str | None) -> None:
    """Choose the workspace this call acts in, check that the caller belongs to it, and
    from then on let `session` see that workspace only."""
    if principal.job_id is not None or principal.deployment_id is not None:
        owner = (
            session.get(JobRow, principal.job_id)
            if principal.job_id is not None
            else session.get(DeploymentRow, principal.deployment_id)
        )
        workspace = session.get(WorkspaceRow, owner.workspace_id)
        if requested and requested != workspace.name:
            raise Forbidden(
                f"this token acts in its own workspace ({workspace.name}), not in {requested!r}"
            )
        role = "member"
    else:
        user = principal.user
        limited = principal.limits.get("workspace")
        if limited and requested and requested != limited:
            raise Forbidden(f"this token acts in workspace {limited} only")
        requested = requested or limited
        if requested:
            workspace = session.scalar(select(WorkspaceRow).where(WorkspaceRow.name == requested))
        elif user.default_workspace_id is not None:
            workspace = session.get(WorkspaceRow, user.default_workspace_id)
        else:
            raise InvalidInput(
                "name the workspace to act in: --workspace NAME, FERMION_WORKSPACE, or the"
                " X-Fermion-Workspace header (`fermion workspace list` shows yours)"
            )
        role = role_in(session, user, workspace) if workspace is not None else None
        if role is None:
            raise not_found(requested or str(user.default_workspace_id))
    principal.workspace, principal.role = workspace, role
    tenancy.enter(session, workspace.id)


# -- managing them (admins) -------------------------------------------------------------
def quota_of(row: WorkspaceRow) -> Quota:
    stored = dict(row.quota or {})
    if stored.get("memory") is not None:
        stored["memory"] = format_memory(stored["memory"])
    return Quota(**stored)


def _stored_quota(quota: Quota) -> dict:
    values = quota.model_dump(exclude_none=True)
    if "memory" in values:
        values["memory"] = parse_memory(values["memory"])
    return values


def public(session: Session, row: WorkspaceRow, role: str) -> WorkspacePublic:
    members = session.execute(
        select(User.name, MembershipRow.role)
        .join(MembershipRow, MembershipRow.user_id == User.id)
        .where(MembershipRow.workspace_id == row.id)
        .order_by(User.name)
    ).all()
    return WorkspacePublic(
        name=row.name,
        quota=quota_of(row),
        members=[MemberPublic(user=name, role=r) for name, r in members],
        encryption=encryption.describe(session, row),
        role=role,
        created_at=row.created_at,
    )


def create(session: Session, request: WorkspaceCreate) -> WorkspacePublic:
    row = WorkspaceRow(
        name=request.name, quota=_stored_quota(request.quota), encrypted=request.encrypted
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"workspace {request.name!r} already exists") from None
    return public(session, row, "admin")


def list_workspaces(session: Session, user: User) -> WorkspacesPublic:
    rows = session.scalars(select(WorkspaceRow).order_by(WorkspaceRow.name)).all()
    data = [public(session, row, role) for row in rows if (role := role_in(session, user, row))]
    return WorkspacesPublic(data=data, count=len(data))


def read(session: Session, user: User, name: str) -> WorkspacePublic:
    row = session.scalar(select(WorkspaceRow).where(WorkspaceRow.name == name))
    role = role_in(session, user, row) if row is not None else None
    if role is None:
        raise not_found(name)
    return public(session, row, role)


def find_user(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"user {name!r} not found; `fermion user list` shows them")
    return user


def add_member(session: Session, name: str, request: MemberAdd) -> WorkspacePublic:
    """Add a user, or change the role of one who belongs already."""
    row = by_name(session, name)
    user = find_user(session, request.user)
    membership = _membership(session, row, user)
    if membership is None:
        session.add(MembershipRow(workspace_id=row.id, user_id=user.id, role=request.role))
    else:
        membership.role = request.role
    if user.default_workspace_id is None:
        user.default_workspace_id = row.id
    session.flush()
    return public(session, row, "admin")


def remove_member(session: Session, name: str, user_name: str) -> WorkspacePublic:
    row = by_name(session, name)
    user = find_user(session, user_name)
    membership = _membership(session, row, user)
    if membership is None:
        raise NotFound(f"{user_name} is not a member of {name}")
    session.delete(membership)
    if user.default_workspace_id == row.id:
        user.default_workspace_id = None
    session.flush()
    return public(session, row, "admin")


def set_quota(session: Session, name: str, quota: Quota) -> WorkspacePublic:
    """Replace the workspace's quota; fields left out are no limit. Jobs already
    running keep running; queued ones wait until the workspace is under the new one."""
    row = by_name(session, name)
    row.quota = _stored_quota(quota)
    session.flush()
    return public(session, row, "admin")


def set_encryption(
    context: ServerContext, session: Session, name: str, enabled: bool
) -> WorkspacePublic:
    row = by_name(session, name)
    encryption.turn_on(context, session, row, enabled)
    return public(session, row, "admin")


def rotate_key(context: ServerContext, session: Session, name: str) -> WorkspacePublic:
    row = by_name(session, name)
    encryption.rotate(context, session, row)
    session.commit()
    return public(session, row, "admin")
