from fastapi import APIRouter

from fermion.payloads import JobDefaults, UserPublic
from fermion.server.deps import CurrentUser, SchedulerDep, SessionDep, UserOnly
from fermion.server.services import users

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me", response_model=UserPublic)
def read_me(user: CurrentUser) -> UserPublic:
    return users.to_public(user)


@router.patch("/me/job-defaults", response_model=UserPublic)
def update_job_defaults(
    changes: JobDefaults, user: UserOnly, session: SessionDep, scheduler: SchedulerDep
) -> UserPublic:
    """Set the default resources of this user's jobs (`fermion config --cpu --gpu --memory`)."""
    return users.update_job_defaults(session, user, changes, scheduler.executor.capacity())
