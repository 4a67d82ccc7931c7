"""The audit log as the API shows it (admins only)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class AuditEventPublic(BaseModel):
    at: datetime
    actor: str  # a user's name; "job 12 (ana)"; "-" when the token was not valid
    workspace: str | None
    method: str
    path: str
    status: int
    client: str | None


class AuditEventsPublic(BaseModel):
    data: list[AuditEventPublic]
    count: int
