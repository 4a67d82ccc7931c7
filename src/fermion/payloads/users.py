"""The signed-in user, their job defaults, sessions and uploads."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from fermion.payloads.common import NAME_PATTERN


class JobDefaults(BaseModel):
    """A user's default job resources (`fermion config --cpu --gpu --memory`)."""

    cpu: float | None = Field(None, gt=0, description="CPU cores per job")
    gpu: int | None = Field(None, ge=0, description="GPUs per job")
    memory: str | None = Field(None, description="memory per job, e.g. 8Gi")

    @field_validator("memory")
    @classmethod
    def _memory_is_a_size(cls, value: str | None) -> str | None:
        from fermion.resources import format_memory, parse_memory

        return None if value is None else format_memory(parse_memory(value))


class UserPublic(BaseModel):
    name: str
    role: str = Field(description="admin (manages users and workspaces), member or viewer")
    disabled: bool = False
    default_workspace: str | None = Field(None, description="where a call that names none acts")
    workspaces: dict[str, str] = Field(
        default_factory=dict, description="the workspaces the user belongs to, and the role in each"
    )
    job_defaults: JobDefaults
    created_at: datetime


class UsersPublic(BaseModel):
    data: list[UserPublic]
    count: int


class UserCreate(BaseModel):
    name: str = Field(pattern=NAME_PATTERN, description="letters, digits, . _ -")
    role: Literal["admin", "member", "viewer"] = "member"
    workspace: str | None = Field(
        None, description="a workspace to join (with the same role) and act in by default"
    )


class UserCreated(UserPublic):
    token: str = Field(description="the new user's first API token: shown this once")


class MyUpdate(BaseModel):
    default_workspace: str = Field(min_length=1, max_length=64)


class UserUpdate(BaseModel):
    role: Literal["admin", "member", "viewer"] | None = None
    disabled: bool | None = Field(None, description="a disabled user's tokens stop working")
    default_workspace: str | None = None


class SessionCreate(BaseModel):
    token: str = Field(min_length=1, description="an API token, exchanged for a session cookie")


# -- uploads --------------------------------------------------------------------
class UploadPublic(BaseModel):
    id: str
    size_bytes: int
