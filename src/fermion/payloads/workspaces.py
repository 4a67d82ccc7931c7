"""Workspaces: who belongs to one and with what role, and the quota its jobs share."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from fermion.payloads.common import NAME_PATTERN

MemberRole = Literal["member", "viewer"]


class Quota(BaseModel):
    """What a workspace's jobs and replicas may hold at once; a field left out is no
    limit (the server's capacity still is)."""

    cpu: float | None = Field(None, gt=0, description="CPU cores")
    gpu: int | None = Field(None, ge=0, description="GPUs")
    memory: str | None = Field(None, description="memory, e.g. 16Gi")
    jobs: int | None = Field(None, ge=0, description="jobs running at once (replicas aside)")
    replicas: int | None = Field(None, ge=0, description="deployment replicas running at once")

    @field_validator("memory")
    @classmethod
    def _memory_is_a_size(cls, value: str | None) -> str | None:
        from fermion.resources import format_memory, parse_memory

        return None if value is None else format_memory(parse_memory(value))


class WorkspaceCreate(BaseModel):
    name: str = Field(pattern=NAME_PATTERN, description="letters, digits, . _ -")
    quota: Quota = Field(default_factory=Quota)
    encrypted: bool = Field(False, description="seal its datasets' and models' files at rest")


class EncryptionChange(BaseModel):
    enabled: bool = Field(description="true: seal the workspace's files at rest from now on")


class Encryption(BaseModel):
    """Whether a workspace's dataset and model files are sealed at rest (AES-GCM)."""

    enabled: bool
    key: int | None = Field(None, description="the id of the data key that seals new files")
    keys: int = Field(0, description="data keys held: more than one while a rotation runs")
    sealing: bool = Field(False, description="files are being sealed again in the background")


class MemberAdd(BaseModel):
    user: str = Field(min_length=1, max_length=64)
    role: MemberRole = "member"


class MemberPublic(BaseModel):
    user: str
    role: str


class WorkspacePublic(BaseModel):
    name: str
    quota: Quota
    members: list[MemberPublic]
    encryption: Encryption = Field(default_factory=lambda: Encryption(enabled=False))
    role: str = Field(description="the caller's role in it: admin, member or viewer")
    created_at: datetime


class WorkspacesPublic(BaseModel):
    data: list[WorkspacePublic]
    count: int
