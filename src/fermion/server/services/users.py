"""The signed-in user and their defaults."""

from __future__ import annotations

from sqlalchemy.orm import Session

from fermion.errors import InvalidInput
from fermion.payloads import JobDefaults, UserPublic
from fermion.resources import Resources, parse_memory
from fermion.store.tables import User


def to_public(user: User) -> UserPublic:
    return UserPublic(
        name=user.name,
        role=user.role,
        job_defaults=JobDefaults(**(user.job_defaults or {})),
        created_at=user.created_at,
    )


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
    return to_public(user)
