"""Secrets: set (sealed at once), list (names and dates), delete; and the check a job's
submission makes that every secret it names exists. The values are opened only when a
job starts (scheduler.py), into that job's environment."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from fermion.errors import InvalidInput, NotFound
from fermion.payloads import SECRET_NAME, SecretPublic, SecretsPublic
from fermion.scheduler.scheduler import now
from fermion.store.context import ServerContext
from fermion.store.secrets import SecretBox
from fermion.store.tables import SecretRow, User


def check_name(name: str) -> None:
    if not re.match(SECRET_NAME, name) or name.startswith("FERMION_") or len(name) > 128:
        raise InvalidInput(
            f"secret name {name!r}: a job gets it as an environment variable, so use letters,"
            " digits and underscores, not starting with a digit or FERMION_ (API_KEY)"
        )


def find(session: Session, user: User, name: str) -> SecretRow:
    row = session.scalar(
        select(SecretRow).where(SecretRow.owner_id == user.id, SecretRow.name == name)
    )
    if row is None:
        raise NotFound(f"no secret named {name}; set it with: fermion secret set {name}")
    return row


def put(
    context: ServerContext, session: Session, user: User, name: str, value: str
) -> SecretPublic:
    check_name(name)
    sealed = SecretBox.of(context.settings).seal(user.id, name, value)
    row = session.scalar(
        select(SecretRow).where(SecretRow.owner_id == user.id, SecretRow.name == name)
    )
    if row is None:
        row = SecretRow(owner_id=user.id, name=name, sealed=sealed)
        session.add(row)
    else:
        row.sealed, row.updated_at = sealed, now()
    session.commit()
    return public(row)


def list_secrets(session: Session, user: User) -> SecretsPublic:
    rows = session.scalars(
        select(SecretRow).where(SecretRow.owner_id == user.id).order_by(SecretRow.name)
    ).all()
    return SecretsPublic(data=[public(r) for r in rows], count=len(rows))


def delete(session: Session, user: User, name: str) -> None:
    session.delete(find(session, user, name))
    session.commit()


def check_exist(session: Session, user: User, names: list[str]) -> None:
    """A job asks for secrets by name: each must be its owner's."""
    for name in names:
        find(session, user, name)


def public(row: SecretRow) -> SecretPublic:
    return SecretPublic(name=row.name, created_at=row.created_at, updated_at=row.updated_at)
