"""Reading the audit log (server/audit.py writes it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fermion.payloads import AuditEventPublic, AuditEventsPublic
from fermion.store.tables import AuditEventRow


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
