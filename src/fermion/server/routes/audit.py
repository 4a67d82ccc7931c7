from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from fermion.payloads import AuditEventsPublic
from fermion.server.deps import AdminOnly, SessionDep
from fermion.server.services import audit

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=AuditEventsPublic)
def read_audit_log(
    session: SessionDep,
    _: AdminOnly,
    actor: str | None = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> AuditEventsPublic:
    """Every call that changed something, and every sign-in, newest first (admins)."""
    return audit.list_events(session, actor, since, limit)
