"""The signed-in user, their job defaults, sessions and uploads."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, field_validator


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
    role: str
    job_defaults: JobDefaults
    created_at: datetime


class SessionCreate(BaseModel):
    token: str = Field(min_length=1, description="an API token, exchanged for a session cookie")


# -- uploads --------------------------------------------------------------------
class UploadPublic(BaseModel):
    id: str
    size_bytes: int
