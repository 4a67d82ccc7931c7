"""API tokens: random secrets, stored as SHA-256 hashes.

Tokens carry 256 bits of randomness, so a fast hash is enough: there is nothing to
brute-force, unlike a password.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fermion.errors import Forbidden, Unauthorized
from fermion.settings import Settings
from fermion.store import MetadataStore
from fermion.store.tables import JobRow, Token, User
from fermion.store.tenancy import DEFAULT_WORKSPACE, MembershipRow, WorkspaceRow

log = logging.getLogger("fermion.server")

TOKEN_PREFIX = "fm_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Principal:
    """Who is calling: a user, a job acting for its owner (`job_id` set), or an
    application holding a deployment's token (`deployment_id` set); and, once chosen
    (services/workspaces.py `enter`), the workspace the call acts in and the caller's
    role there."""

    user: User
    job_id: int | None = None
    deployment_id: int | None = None
    scope: dict[str, Any] | None = None  # a scoped job's: what its token may reach
    limits: dict[str, Any] = field(default_factory=dict)  # the token's: read_only, workspace
    workspace: WorkspaceRow | None = None
    role: str | None = None  # admin, member or viewer, in `workspace`

    def describe(self) -> str:
        """Who this is, as the audit log names them."""
        if self.job_id is not None:
            return f"job {self.job_id} ({self.user.name})"
        if self.deployment_id is not None:
            return f"deployment {self.deployment_id}'s token ({self.user.name})"
        return self.user.name

    def check_scope(self, method: str, path: str) -> None:
        """A job's token reaches its own job (metrics, its endpoint, its model), reads its
        workspace's datasets and models, calls its deployments' endpoints, and an
        evaluation job reports its result; nothing else its owner could do (list or
        cancel other jobs, make tokens, delete). A scoped job's (a federated site's)
        reaches only the dataset versions of its scope and its own job."""
        if self.job_id is None:
            return
        own = f"/api/v1/jobs/{self.job_id}"
        if path == own or path.startswith(own + "/"):
            return
        reads = method in ("GET", "HEAD")
        if self.scope is not None:
            found = DATASET_VERSION_PATH.match(path)
            if found and reads:
                ref = f"{found['name']}:v{found['version'].removeprefix('v')}"
                if ref in self.scope.get("datasets", []):
                    return
            raise Forbidden(
                f"job {self.job_id}'s token reaches only"
                f" {', '.join(self.scope.get('datasets', []))} and its own job: a federated"
                " site reads its own dataset and nothing else"
            )
        if (reads and JOB_READS.match(path)) or (method == "POST" and JOB_CALLS.match(path)):
            return
        raise Forbidden(
            f"job {self.job_id}'s token reaches its own job, the workspace's datasets and"
            f" models, and deployments' endpoints; not {method} {path}"
        )


JOB_READS = re.compile(r"^/api/v1/(datasets|models)(/|$)")
# An evaluation job's report; a deployment's endpoints (a batch job may call one).
JOB_CALLS = re.compile(
    r"^/api/v1/(models/[^/]+/versions/[^/]+/evaluations"
    r"|deployments/[^/]+/(predict|explain|v2/.*))$"
)
DATASET_VERSION_PATH = re.compile(r"^/api/v1/datasets/(?P<name>[^/]+)/versions/(?P<version>[^/]+)")


def issue_token(
    session: Session,
    user: User,
    name: str,
    job_id: int | None = None,
    deployment_id: int | None = None,
    expires_at: datetime | None = None,
    scope: dict[str, Any] | None = None,
) -> str:
    """Create a token for `user` (or for one of their jobs or deployments, or a dashboard
    session); the secret is returned once and never stored."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        Token(
            user=user,
            name=name,
            token_hash=hash_token(secret),
            job_id=job_id,
            deployment_id=deployment_id,
            expires_at=expires_at,
            scope=scope,
        )
    )
    return secret


def find_token(session: Session, token: str) -> Token | None:
    return session.scalar(select(Token).where(Token.token_hash == hash_token(token)))


def authenticate(session: Session, token: str | None) -> Principal:
    if not token:
        raise Unauthorized(
            "this call needs an API token: send 'Authorization: Bearer <token>' (the CLI and"
            " SDK read it from $FERMION_HOME/credentials or FERMION_TOKEN)"
        )
    row = find_token(session, token)
    if row is None:
        raise Unauthorized(
            "the API token is not valid; check FERMION_TOKEN or the credentials file"
        )
    if row.expires_at is not None and row.expires_at < datetime.now(UTC):
        name = row.name
        session.delete(row)
        session.commit()
        if name == SESSION_NAME:
            raise Unauthorized("the session has expired; sign in again")
        raise Unauthorized(
            f"the API token {name!r} has expired; make another: fermion token create NAME"
        )
    if row.user.disabled:
        raise Unauthorized(
            f"user {row.user.name!r} is disabled; an admin can enable it: fermion user enable"
            f" {row.user.name}"
        )
    job = session.get(JobRow, row.job_id) if row.job_id is not None else None
    return Principal(
        user=row.user,
        job_id=row.job_id,
        deployment_id=row.deployment_id,
        scope=job.scope if job is not None else None,
        limits=row.scope or {},
    )


def bootstrap_admin(store: MetadataStore, settings: Settings) -> None:
    """On the first start, create the admin user and write its token for the CLI/SDK."""
    with store.session() as session:
        if session.scalar(select(func.count()).select_from(User)):
            return
        default = session.scalar(select(WorkspaceRow).where(WorkspaceRow.name == DEFAULT_WORKSPACE))
        admin = User(name="admin", role="admin", job_defaults={}, default_workspace_id=default.id)
        session.add(admin)
        session.flush()
        session.add(MembershipRow(workspace_id=default.id, user_id=admin.id, role="member"))
        token = issue_token(session, admin, name="admin (first start)")
    write_credentials(settings.credentials_path, settings.server_url, token)
    log.info("created the admin token; it is in %s", settings.credentials_path)


def write_credentials(path: Path, url: str, token: str) -> None:
    """Write the credentials file atomically, readable by its owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"url": url, "token": token}, f)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


# -- dashboard sessions -----------------------------------------------------------------
SESSION_NAME = "dashboard session"


def open_dashboard_session(session: Session, token: str, hours: float) -> tuple[Principal, str]:
    """A user's API token exchanged for a session token of its own that expires."""
    principal = authenticate(session, token)
    if principal.job_id is not None or principal.deployment_id is not None:
        raise Forbidden("sign in with a user's API token, not a job's or a deployment's")
    expires = datetime.now(UTC) + timedelta(hours=hours)
    # The session may do what the token may, no more (a read-only token's is read-only).
    secret = issue_token(
        session, principal.user, SESSION_NAME, expires_at=expires, scope=principal.limits or None
    )
    session.commit()
    return principal, secret


def close_dashboard_session(session: Session, token: str) -> str | None:
    """End the session; returns whose it was."""
    row = find_token(session, token)
    if row is None or row.name != SESSION_NAME:
        return None
    name = row.user.name
    session.delete(row)
    session.commit()
    return name
