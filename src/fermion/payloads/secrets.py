"""Secrets: values a job needs (API keys, passwords) that nobody sees again once set."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from fermion.payloads.jobs import ENV_NAME

SECRET_NAME = ENV_NAME  # a job gets it as an environment variable of the same name
MAX_SECRET_BYTES = 65536


class SecretSet(BaseModel):
    value: str = Field(min_length=1, max_length=MAX_SECRET_BYTES)


class SecretPublic(BaseModel):
    """What is shown of a secret: its name and dates, never its value."""

    name: str
    created_at: datetime
    updated_at: datetime


class SecretsPublic(BaseModel):
    data: list[SecretPublic]
    count: int
