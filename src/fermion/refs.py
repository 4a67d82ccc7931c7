"""References to versioned things: `digits`, `digits:v3`, `digits:3`, `digits:latest`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, TypeVar

from fermion.errors import InvalidInput, NotFound

V = TypeVar("V", bound=Any)  # a version row: has .version

_REF = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,62})(?::(?:v?(?P<version>[0-9]{1,18})|latest))?$"
)


def parse_ref(ref: str, kind: str = "dataset") -> tuple[str, int | None]:
    """(name, version); version None means the latest."""
    match = _REF.match(ref.strip())
    if not match:
        raise InvalidInput(f"{ref!r} is not a {kind} reference; write NAME, NAME:v3 or NAME:latest")
    version = match.group("version")
    return match.group("name"), int(version) if version else None


def format_ref(name: str, version: int) -> str:
    return f"{name}:v{version}"


def pick_version(versions: Sequence[V], version: int | None, kind: str, name: str) -> V:
    """`version` of a named thing (the latest when None) from its rows, oldest first;
    NotFound lists the versions there are."""
    if version is None:
        return versions[-1]
    for row in versions:
        if row.version == version:
            return row
    have = ", ".join(f"v{v.version}" for v in versions)
    raise NotFound(f"{kind} {name!r} has no version v{version}; its versions: {have}")
