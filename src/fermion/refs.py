"""References to versioned things: `digits`, `digits:v3`, `digits:3`, `digits:latest`."""

from __future__ import annotations

import re

from fermion.errors import InvalidInput

_REF = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,62})(?::(?:v?(?P<version>\d+)|latest))?$")


def parse_ref(ref: str, kind: str = "dataset") -> tuple[str, int | None]:
    """(name, version); version None means the latest."""
    match = _REF.match(ref.strip())
    if not match:
        raise InvalidInput(f"{ref!r} is not a {kind} reference; write NAME, NAME:v3 or NAME:latest")
    version = match.group("version")
    return match.group("name"), int(version) if version else None


def format_ref(name: str, version: int) -> str:
    return f"{name}:v{version}"
