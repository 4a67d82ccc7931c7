"""Who may call a deployment's endpoints, answered from memory on the inference path.

The rule: a public deployment takes any caller; otherwise the token must be the
deployment's own, or of someone in the deployment's workspace (a member, a viewer, a
job of that workspace), or an admin's. Looking that up in the database on
every request cost more than the forward itself, so the gateway keeps:
- every deployment's access settings, reloaded on each probe pass (every 0.5 s) and on
  a name it has not seen yet (a deployment created a moment ago);
- what each recently seen token stands for, for TOKEN_CACHE_S: a token that expires or
  is deleted stops working at the inference endpoints within that time.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from fermion.errors import Forbidden, NotFound
from fermion.server.services import auth
from fermion.store.context import ServerContext
from fermion.store.tables import DeploymentRow, JobRow
from fermion.store.tenancy import MembershipRow, WorkspaceRow

TOKEN_CACHE_S = 1.0
TOKEN_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class Access:
    deployment_id: int
    public: bool
    workspace_id: int


@dataclass(frozen=True)
class Caller:
    workspaces: frozenset[int]  # those it may call deployments of
    admin: bool
    deployment_id: int | None  # set for a deployment's own token


def load_access(session: Session) -> dict[str, Access]:
    rows = session.execute(
        select(
            DeploymentRow.name,
            DeploymentRow.id,
            DeploymentRow.public,
            DeploymentRow.workspace_id,
        )
    ).all()
    return {name: Access(id_, public, workspace) for name, id_, public, workspace in rows}


def _not_found(name: str) -> NotFound:
    """The same answer for a deployment that does not exist and one the caller may not see."""
    return NotFound(f"deployment {name!r} not found; `fermion deployment list` shows them")


def _caller(session: Session, token: str | None) -> Caller:
    principal = auth.authenticate(session, token)  # raises Unauthorized, with the reason
    principal.check_scope("POST", "/api/v1/deployments/-/predict")  # not a scoped job
    if principal.job_id is not None:
        workspaces = {session.get(JobRow, principal.job_id).workspace_id}
    else:
        workspaces = set(
            session.scalars(
                select(MembershipRow.workspace_id).where(MembershipRow.user_id == principal.user.id)
            )
        )
    admin = principal.user.role == "admin" and principal.job_id is None
    limited = principal.limits.get("workspace")
    if limited:  # a token for one workspace calls that workspace's endpoints only
        that = set(session.scalars(select(WorkspaceRow.id).where(WorkspaceRow.name == limited)))
        workspaces = that if admin else workspaces & that
        admin = False
    return Caller(frozenset(workspaces), admin, principal.deployment_id)


class EndpointAccess:
    def __init__(self, context: ServerContext) -> None:
        self.context = context
        self.deployments: dict[str, Access] = {}
        self._callers: dict[str, tuple[float, Caller]] = {}

    def _read(self, query, *args):  # noqa: ANN001, ANN202 - runs a reader in a session
        with self.context.metadata.session() as session:
            return query(session, *args)

    async def reload(self) -> None:
        self.deployments = await asyncio.to_thread(self._read, load_access)

    async def check(self, name: str, token: str | None) -> None:
        """Raise NotFound, Unauthorized or Forbidden unless this caller may call `name`.
        A deployment the caller may not see is 'not found', as if it did not exist; and
        without a valid token, a private deployment and a missing one both answer 401,
        so the answer tells no one which names exist."""
        access = self.deployments.get(name)
        if access is None:
            await self.reload()
            access = self.deployments.get(name)
        if access is not None and access.public:
            return
        caller = await self._caller(token)
        if access is None:
            raise _not_found(name)
        if caller.deployment_id is not None:
            if caller.deployment_id != access.deployment_id:
                raise Forbidden(f"this token belongs to another deployment, not {name!r}")
            return
        if access.workspace_id not in caller.workspaces and not caller.admin:
            raise _not_found(name)

    async def _caller(self, token: str | None) -> Caller:
        now = time.monotonic()
        cached = self._callers.get(token) if token else None
        if cached is not None and now - cached[0] < TOKEN_CACHE_S:
            return cached[1]
        caller = await asyncio.to_thread(self._read, _caller, token)
        if len(self._callers) >= TOKEN_CACHE_SIZE:
            self._callers.clear()
        self._callers[token] = (now, caller)
        return caller
