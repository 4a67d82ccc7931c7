"""API tokens a user makes for scripts and machines: named, optionally expiring,
revocable; the secret is shown once, at creation."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from pydantic import BaseModel, Field, field_validator

DURATION = re.compile(r"^(?P<n>\d+(?:\.\d+)?)(?P<unit>[smhd])$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_LIFETIME = timedelta(days=3650)


def parse_duration(text: str) -> timedelta:
    """30d, 12h, 90m, 45s -> a timedelta."""
    found = DURATION.match(text.strip())
    if not found or float(found["n"]) <= 0:
        raise ValueError(f"{text!r} is not a duration: write 30d, 12h, 90m or 45s")
    lifetime = timedelta(seconds=float(found["n"]) * UNIT_SECONDS[found["unit"]])
    if lifetime > MAX_LIFETIME:
        raise ValueError(f"{text} is longer than ten years; leave --expires out for no expiry")
    return lifetime


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64, description="what it is for: ci, laptop")
    expires: str | None = Field(None, description="how long it lives: 30d, 12h; none: for ever")
    read_only: bool = Field(False, description="it reads, and calls endpoints; it changes nothing")
    workspace: str | None = Field(None, description="it acts in this workspace only")

    @field_validator("name")
    @classmethod
    def _not_a_session(cls, value: str) -> str:
        if value == "dashboard session":
            raise ValueError("that name is the dashboard's own; pick another")
        return value

    @field_validator("expires")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value


class TokenPublic(BaseModel):
    id: int
    name: str
    created_at: datetime
    expires_at: datetime | None
    read_only: bool = False
    workspace: str | None = None


class TokenCreated(TokenPublic):
    token: str = Field(description="the secret: shown this once, stored only as a hash")


class TokensPublic(BaseModel):
    data: list[TokenPublic]
    count: int
