from fastapi import APIRouter, status

from fermion.payloads import (
    JobDefaults,
    MyUpdate,
    UserCreate,
    UserCreated,
    UserPublic,
    UsersPublic,
    UserUpdate,
)
from fermion.server.deps import AccountUser, AdminOnly, CallerDep, SchedulerDep, SessionDep
from fermion.server.services import users

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me", response_model=UserPublic)
def read_me(caller: CallerDep, session: SessionDep) -> UserPublic:
    """You: your role, your workspaces (and your role in each), your job defaults."""
    return users.to_public(session, caller.user)


@router.patch("/me", response_model=UserPublic)
def update_me(changes: MyUpdate, user: AccountUser, session: SessionDep) -> UserPublic:
    """Choose your default workspace: where your calls act when they name none."""
    return users.use_workspace(session, user, changes.default_workspace)


@router.patch("/me/job-defaults", response_model=UserPublic)
def update_job_defaults(
    changes: JobDefaults, user: AccountUser, session: SessionDep, scheduler: SchedulerDep
) -> UserPublic:
    """Set the default resources of this user's jobs (`fermion config --cpu --gpu --memory`)."""
    return users.update_job_defaults(session, user, changes, scheduler.executor.capacity())


@router.post("", response_model=UserCreated, status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, session: SessionDep, _: AdminOnly) -> UserCreated:
    """A new user (admins only), with a first API token shown in this answer only."""
    return users.create(session, body)


@router.get("", response_model=UsersPublic)
def list_users(session: SessionDep, _: AdminOnly) -> UsersPublic:
    return users.list_users(session)


@router.patch("/{name}", response_model=UserPublic)
def update_user(name: str, body: UserUpdate, session: SessionDep, admin: AdminOnly) -> UserPublic:
    """Change a user's role or default workspace, or disable them (their tokens stop
    working at once) or enable them again."""
    return users.update(session, admin, name, body)
