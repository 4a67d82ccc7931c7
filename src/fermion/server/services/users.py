"""Users: the signed-in one and their defaults; creating, listing, disabling (admins)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fermion.errors import Conflict, InvalidInput, NotFound
from fermion.payloads import (
    JobDefaults,
    UserCreate,
    UserCreated,
    UserPublic,
    UsersPublic,
    UserUpdate,
)
from fermion.resources import Resources, parse_memory
from fermion.server.services import workspaces
from fermion.server.services.auth import issue_token
from fermion.store.tables import User
from fermion.store.tenancy import MembershipRow, WorkspaceRow


def to_public(session: Session, user: User) -> UserPublic:
    joined = session.execute(
        select(WorkspaceRow.name, MembershipRow.role)
        .join(MembershipRow, MembershipRow.workspace_id == WorkspaceRow.id)
        .where(MembershipRow.user_id == user.id)
        .order_by(WorkspaceRow.name)
    ).all()
    default = (
        session.get(WorkspaceRow, user.default_workspace_id) if user.default_workspace_id else None
    )
    return UserPublic(
        name=user.name,
        role=user.role,
        disabled=user.disabled,
        default_workspace=default.name if default is not None else None,
        workspaces=dict(joined),
        job_defaults=JobDefaults(**(user.job_defaults or {})),
        created_at=user.created_at,
    )


def create(session: Session, request: UserCreate) -> UserCreated:
    """A new user, in `request.workspace` if one is named, with a first API token."""
    workspace = workspaces.by_name(session, request.workspace) if request.workspace else None
    user = User(
        name=request.name,
        role=request.role,
        job_defaults={},
        default_workspace_id=workspace.id if workspace is not None else None,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"user {request.name!r} already exists") from None
    if workspace is not None:
        role = "viewer" if request.role == "viewer" else "member"
        session.add(MembershipRow(workspace_id=workspace.id, user_id=user.id, role=role))
    token = issue_token(session, user, name="first token")
    session.flush()
    return UserCreated(**to_public(session, user).model_dump(), token=token)


def use_workspace(session: Session, user: User, name: str) -> UserPublic:
    """Make a workspace the user belongs to their default."""
    workspace = session.scalar(select(WorkspaceRow).where(WorkspaceRow.name == name))
    if workspace is None or workspaces.role_in(session, user, workspace) is None:
        raise NotFound(f"workspace {name!r} not found; `fermion workspace list` shows yours")
    user.default_workspace_id = workspace.id
    session.flush()
    return to_public(session, user)


def list_users(session: Session) -> UsersPublic:
    data = [to_public(session, u) for u in session.scalars(select(User).order_by(User.name))]
    return UsersPublic(data=data, count=len(data))


def update(session: Session, caller: User, name: str, changes: UserUpdate) -> UserPublic:
    """Change a user's role, default workspace, or disable them. Admins cannot disable
    or demote themselves: the server would be left without anyone to undo it."""
    user = workspaces.find_user(session, name)
    if user.id == caller.id and (changes.disabled or changes.role not in (None, "admin")):
        raise InvalidInput("you cannot disable or demote yourself; another admin can")
    if changes.role is not None:
        user.role = changes.role
    if changes.disabled is not None:
        user.disabled = changes.disabled
    if changes.default_workspace is not None:
        workspace = workspaces.by_name(session, changes.default_workspace)
        if workspaces.role_in(session, user, workspace) is None:
            raise InvalidInput(
                f"{name} does not belong to {changes.default_workspace}; add them first:"
                f" fermion workspace add-member {changes.default_workspace} {name}"
            )
        user.default_workspace_id = workspace.id
    session.flush()
    admins = session.scalar(
        select(func.count()).select_from(User).where(User.role == "admin", ~User.disabled)
    )
    if not admins:
        raise InvalidInput("that would leave no admin who is not disabled")
    return to_public(session, user)


def update_job_defaults(
    session: Session, user: User, changes: JobDefaults, capacity: Resources
) -> UserPublic:
    """Merge the given fields into the user's defaults; fields left out stay as they are.
    A default that no job could ever get within `capacity` is refused."""
    merged = {**(user.job_defaults or {}), **changes.model_dump(exclude_unset=True)}
    asked = Resources(
        cpu=float(merged.get("cpu") or 0),
        gpu=int(merged.get("gpu") or 0),
        memory=parse_memory(merged["memory"]) if merged.get("memory") else 0,
    )
    if not asked.fits_in(capacity):
        too_much = [
            name
            for name, a, c in (
                ("cpu", asked.cpu, capacity.cpu),
                ("gpu", asked.gpu, capacity.gpu),
                ("memory", asked.memory, capacity.memory),
            )
            if a > c
        ]
        raise InvalidInput(
            f"a default of {', '.join(too_much)} beyond what this platform has"
            f" ({capacity.describe()}) would leave every job queued forever; ask for at most"
            " that (fermion server start --capacity sets what jobs may use)"
        )
    user.job_defaults = {k: v for k, v in merged.items() if v is not None}
    session.add(user)
    session.flush()
    return to_public(session, user)
