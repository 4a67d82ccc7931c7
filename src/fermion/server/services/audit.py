"""The audit log: one row per change or sign-in (server/audit.py sees them), read by
admins."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fermion.payloads import AuditEventPublic, AuditEventsPublic
from fermion.store.context import ServerContext
from fermion.store.tables import AuditEventRow


def record(
    context: ServerContext,
    actor: str,
    workspace: str | None,
    method: str,
    path: str,
    status: int,
    client: str | None,
) -> None:
    row = AuditEventRow(
        actor=actor[:128],
        workspace=workspace,
        method=method,
        path=path[:512],
        status=status,
        client=client[:64] if client else None,
    )
    with context.metadata.session() as session:
        session.add(row)


def list_events(
    session: Session, actor: str | None, since: datetime | None, limit: int
) -> AuditEventsPublic:
    """The latest events first, by actor (theirs and their jobs') and time if asked."""
    query = select(AuditEventRow).order_by(AuditEventRow.id.desc()).limit(limit)
    if actor:
        query = query.where(
            (AuditEventRow.actor == actor) | AuditEventRow.actor.like(f"% ({actor})")
        )
    if since is not None:
        query = query.where(AuditEventRow.at >= since)
    data = [
        AuditEventPublic(
            at=row.at,
            actor=row.actor,
            workspace=row.workspace,
            method=row.method,
            path=row.path,
            status=row.status,
            client=row.client,
        )
        for row in session.scalars(query)
    ]
    return AuditEventsPublic(data=data, count=len(data))
