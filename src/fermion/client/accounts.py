"""The SDK's calls about users and workspaces, mixed into `fermion.Client`. Creating
users and workspaces, membership and quotas are for admins."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fermion.payloads import (
    AuditEventsPublic,
    MemberAdd,
    Quota,
    UserCreate,
    UserCreated,
    UserPublic,
    UsersPublic,
    UserUpdate,
    WorkspaceCreate,
    WorkspacePublic,
    WorkspacesPublic,
    build,
)


class AccountCalls:
    _json: Callable[..., Any]

    # -- users ------------------------------------------------------------------------
    def create_user(
        self, name: str, role: str = "member", workspace: str | None = None
    ) -> UserCreated:
        """A new user; `.token` is their first API token, given this once."""
        body = build(UserCreate, name=name, role=role, workspace=workspace).model_dump()
        return UserCreated.model_validate(self._json("POST", "/api/v1/users", json=body))

    def list_users(self) -> UsersPublic:
        return UsersPublic.model_validate(self._json("GET", "/api/v1/users"))

    def update_user(self, name: str, **changes: Any) -> UserPublic:
        """Change `role`, `disabled` or `default_workspace`."""
        body = build(UserUpdate, **changes).model_dump(exclude_unset=True)
        return UserPublic.model_validate(self._json("PATCH", f"/api/v1/users/{name}", json=body))

    # -- workspaces -------------------------------------------------------------------
    def create_workspace(self, name: str, encrypted: bool = False, **quota: Any) -> WorkspacePublic:
        """A workspace; `encrypted` seals its datasets' and models' files at rest."""
        body = build(
            WorkspaceCreate, name=name, quota=build(Quota, **quota), encrypted=encrypted
        ).model_dump()
        return WorkspacePublic.model_validate(self._json("POST", "/api/v1/workspaces", json=body))

    def encrypt_workspace(self, name: str) -> WorkspacePublic:
        """Seal the workspace's files at rest from now on; those it holds are sealed in
        the background (`encryption.sealing` says while)."""
        path = f"/api/v1/workspaces/{name}/encryption"
        return WorkspacePublic.model_validate(self._json("PUT", path, json={"enabled": True}))

    def rotate_workspace_key(self, name: str) -> WorkspacePublic:
        """A new data key for the workspace; its files are sealed again under it in the
        background, then the old key is deleted."""
        path = f"/api/v1/workspaces/{name}/encryption/rotate"
        return WorkspacePublic.model_validate(self._json("POST", path))

    def list_workspaces(self) -> WorkspacesPublic:
        return WorkspacesPublic.model_validate(self._json("GET", "/api/v1/workspaces"))

    def get_workspace(self, name: str) -> WorkspacePublic:
        return WorkspacePublic.model_validate(self._json("GET", f"/api/v1/workspaces/{name}"))

    def add_member(self, workspace: str, user: str, role: str = "member") -> WorkspacePublic:
        body = build(MemberAdd, user=user, role=role).model_dump()
        path = f"/api/v1/workspaces/{workspace}/members"
        return WorkspacePublic.model_validate(self._json("PUT", path, json=body))

    def remove_member(self, workspace: str, user: str) -> WorkspacePublic:
        path = f"/api/v1/workspaces/{workspace}/members/{user}"
        return WorkspacePublic.model_validate(self._json("DELETE", path))

    def set_quota(self, workspace: str, **quota: Any) -> WorkspacePublic:
        """Replace the quota: cpu, gpu, memory ("16Gi"), jobs, replicas; left out: no limit."""
        body = build(Quota, **quota).model_dump(exclude_none=True)
        path = f"/api/v1/workspaces/{workspace}/quota"
        return WorkspacePublic.model_validate(self._json("PUT", path, json=body))

    def use_workspace(self, name: str) -> UserPublic:
        """Make `name` the workspace your calls act in when they name none."""
        body = {"default_workspace": name}
        return UserPublic.model_validate(self._json("PATCH", "/api/v1/users/me", json=body))

    # -- the audit log ----------------------------------------------------------------
    def audit_events(
        self, actor: str | None = None, since: str | None = None, limit: int = 100
    ) -> AuditEventsPublic:
        """Calls that changed something, and sign-ins, newest first (admins). `actor`: a
        user (their jobs included); `since`: an ISO time."""
        params = {k: v for k, v in {"actor": actor, "since": since, "limit": limit}.items() if v}
        return AuditEventsPublic.model_validate(self._json("GET", "/api/v1/audit", params=params))
