"""Secrets: set (sealed at once), list (names and dates), delete; and the check a job's
submission makes that every secret it names exists. The values are opened only when a
job starts (scheduler.py), into that job's environment.

A secret belongs to a workspace (the request's session sees that one only): any member
may set it or let a job use it; the value is sealed under the id of who set it last."""

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


def find(session: Session, name: str) -> SecretRow:
    row = session.scalar(select(SecretRow).where(SecretRow.name == name))
    if row is None:
        raise NotFound(f"no secret named {name}; set it with: fermion secret set {name}")
    return row


def put(
    context: ServerContext, session: Session, user: User, name: str, value: str
) -> SecretPublic:
    check_name(name)
    sealed = SecretBox.of(context.settings).seal(user.id, name, value)
    row = session.scalar(select(SecretRow).where(SecretRow.name == name))
    if row is None:
        row = SecretRow(owner_id=user.id, name=name, sealed=sealed)
        session.add(row)
    else:
        row.owner_id, row.sealed, row.updated_at = user.id, sealed, now()
    session.commit()
    return public(row)


def list_secrets(session: Session) -> SecretsPublic:
    rows = session.scalars(select(SecretRow).order_by(SecretRow.name)).all()
    return SecretsPublic(data=[public(r) for r in rows], count=len(rows))


def delete(session: Session, name: str) -> None:
    session.delete(find(session, name))
    session.commit()


def check_exist(session: Session, names: list[str]) -> None:
    """A job asks for secrets by name: each must be its workspace's."""
    for name in names:
        find(session, name)


def open_values(context: ServerContext, session: Session, names: dict[str, str]) -> dict[str, str]:
    """{variable: the value of the workspace's secret named for it}, for the server's own
    use (reading a dataset source); never returned to a caller."""
    if not names:
        return {}
    box = SecretBox.of(context.settings)
    opened = {}
    for variable, name in names.items():
        row = find(session, name)
        opened[variable] = box.open(row.owner_id, name, row.sealed)
    return opened


def public(row: SecretRow) -> SecretPublic:
    return SecretPublic(name=row.name, created_at=row.created_at, updated_at=row.updated_at)
