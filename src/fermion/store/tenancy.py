"""Workspaces: every dataset, job, model, deployment, sweep, federation and secret
belongs to one, and a caller sees only the workspace it acts in.

The rule is kept in one place rather than in every query. A session that serves a
request is entered into a workspace (`enter`); from then on every ORM SELECT it runs
gets `WHERE workspace_id = :that` for each workspace-bound table (SQLAlchemy's
`with_loader_criteria`, applied in `do_orm_execute`), and every row it creates joins
that workspace. A name in another workspace is then simply not found, the same 404 as
a name that does not exist. Sessions that are not entered (the scheduler, the
controllers) see every workspace and set `workspace_id` themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint, event
from sqlalchemy.orm import (
    Mapped,
    ORMExecuteState,
    Session,
    declared_attr,
    mapped_column,
    with_loader_criteria,
)

from fermion.store.base import Base, DateTime, utcnow

WORKSPACE_KEY = "fermion_workspace_id"
# An execution option for the few reads that must count across workspaces without
# showing them (the capacity that all jobs hold): .execution_options(all_workspaces=True)
ALL_WORKSPACES = "all_workspaces"
DEFAULT_WORKSPACE = "default"

ROLES = ("admin", "member", "viewer")  # a user's role; admins manage users and workspaces
MEMBER_ROLES = ("member", "viewer")  # a role within one workspace


class WorkspaceRow(Base):
    __tablename__ = "workspaces"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # Limits on what its jobs and replicas hold at once: cpu, gpu, memory (bytes),
    # jobs (running, replicas not counted), replicas. A key left out is no limit.
    quota: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Its datasets' and models' files are sealed at rest (store/sealing.py).
    encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MembershipRow(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("workspace_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # member | viewer
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WorkspaceBound:
    """A table whose rows belong to a workspace."""

    @declared_attr
    def workspace_id(cls) -> Mapped[int]:  # noqa: N805 - declared_attr takes the class
        return mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)


def enter(session: Session, workspace_id: int) -> None:
    """From now on `session` sees and creates rows of this workspace only."""
    session.info[WORKSPACE_KEY] = workspace_id


def entered(session: Session) -> int | None:
    return session.info.get(WORKSPACE_KEY)


@contextmanager
def within(session: Session, workspace_id: int) -> Iterator[None]:
    """Enter `session` into a workspace for a while: a controller working on one
    workspace's sweep resolves names as its owner would."""
    before = session.info.get(WORKSPACE_KEY)
    session.info[WORKSPACE_KEY] = workspace_id
    try:
        yield
    finally:
        if before is None:
            session.info.pop(WORKSPACE_KEY, None)
        else:
            session.info[WORKSPACE_KEY] = before


@event.listens_for(Session, "do_orm_execute")
def _only_the_entered_workspace(state: ORMExecuteState) -> None:
    workspace_id = state.session.info.get(WORKSPACE_KEY)
    if workspace_id is None or not state.is_select:
        return
    if state.execution_options.get(ALL_WORKSPACES):
        return
    state.statement = state.statement.options(
        with_loader_criteria(
            WorkspaceBound,
            lambda cls: cls.workspace_id == workspace_id,
            include_aliases=True,
        )
    )


@event.listens_for(Session, "before_flush")
def _new_rows_join_the_entered_workspace(session: Session, _context, _instances) -> None:  # noqa: ANN001
    workspace_id = session.info.get(WORKSPACE_KEY)
    if workspace_id is None:
        return
    for row in session.new:
        if isinstance(row, WorkspaceBound) and row.workspace_id is None:
            row.workspace_id = workspace_id
