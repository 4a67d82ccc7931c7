"""The signed-in user and their defaults."""

from __future__ import annotations

from sqlalchemy.orm import Session

from fermion.payloads import JobDefaults, UserPublic
from fermion.store.tables import User


def to_public(user: User) -> UserPublic:
    return UserPublic(
        name=user.name,
        role=user.role,
        job_defaults=JobDefaults(**(user.job_defaults or {})),
        created_at=user.created_at,
    )


def update_job_defaults(session: Session, user: User, changes: JobDefaults) -> UserPublic:
    """Merge the given fields into the user's defaults; fields left out stay as they are."""
    merged = {**(user.job_defaults or {}), **changes.model_dump(exclude_unset=True)}
    user.job_defaults = {k: v for k, v in merged.items() if v is not None}
    session.add(user)
    session.flush()
    return to_public(user)
