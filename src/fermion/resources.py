"""Resource quantities as users write them: `--cpu 4 --gpu 2 --memory 8Gi`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from fermion.errors import InvalidInput

_UNITS = {
    "": 1,
    "k": 1000,
    "m": 1000**2,
    "g": 1000**3,
    "t": 1000**4,
    "ki": 1024,
    "mi": 1024**2,
    "gi": 1024**3,
    "ti": 1024**4,
}
_MEMORY = re.compile(r"^\s*([0-9]{1,15}(?:\.[0-9]{1,9})?)\s*([kmgt]i?)?b?\s*$", re.IGNORECASE)


# A job's memory when neither the request nor `fermion config` gives one: the launcher
# and supervisor, then each process's share (a resnet18 rank with its loader workers
# peaks near 2Gi on digits; an idle torch process alone is ~0.5Gi).
DEFAULT_MEMORY_BASE = 1 * 1024**3
DEFAULT_MEMORY_PER_PROCESS = int(2.5 * 1024**3)


def default_job_memory(nproc: int) -> int:
    return DEFAULT_MEMORY_BASE + DEFAULT_MEMORY_PER_PROCESS * max(1, nproc)


def parse_memory(text: str) -> int:
    """'8Gi' -> 8589934592 bytes; also '512Mi', '2G', '1024' (bytes)."""
    match = _MEMORY.match(str(text))
    if not match:
        raise InvalidInput(
            f"memory {text!r} is not a size; write it like 512Mi, 8Gi or 2G (Ki/Mi/Gi are powers"
            " of 1024, K/M/G powers of 1000)"
        )
    number, unit = match.groups()
    return int(float(number) * _UNITS[(unit or "").lower()])


def format_memory(num_bytes: int) -> str:
    for unit in ("Ti", "Gi", "Mi", "Ki"):
        size = _UNITS[unit.lower()]
        if num_bytes >= size and num_bytes % size == 0:
            return f"{num_bytes // size}{unit}"
    return str(num_bytes)


def readable_memory(num_bytes: int) -> str:
    """Exact where that is short ('8Gi'), else rounded ('23.5Gi')."""
    exact = format_memory(num_bytes)
    if len(exact) <= 6:
        return exact
    for unit in ("Ti", "Gi", "Mi", "Ki"):
        size = _UNITS[unit.lower()]
        if num_bytes >= size:
            return f"{num_bytes / size:.1f}{unit}"
    return exact


def format_bytes(num_bytes: int) -> str:
    value = float(num_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


@dataclass(frozen=True)
class Resources:
    """CPU cores, GPUs and memory (bytes): what a job asks for, or what a machine has."""

    cpu: float = 0.0
    gpu: int = 0
    memory: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.cpu + other.cpu, self.gpu + other.gpu, self.memory + other.memory)

    def __sub__(self, other: Resources) -> Resources:
        return Resources(self.cpu - other.cpu, self.gpu - other.gpu, self.memory - other.memory)

    def times(self, count: int) -> Resources:
        """As much again `count` times over: a job's per-node share on all its nodes."""
        return Resources(self.cpu * count, self.gpu * count, self.memory * count)

    def fits_in(self, available: Resources) -> bool:
        return (
            self.cpu <= available.cpu + 1e-9
            and self.gpu <= available.gpu
            and self.memory <= available.memory
        )

    def describe(self) -> str:
        return f"cpu={self.cpu:g}, gpu={self.gpu}, memory={readable_memory(self.memory)}"

    def describe_per_node(self, nodes: int) -> str:
        """A job's share, said for each of its nodes when it has several."""
        return self.describe() + (f" on each of {nodes} nodes" if nodes > 1 else "")


def place(share: Resources, count: int, nodes: list[Resources]) -> list[int] | None:
    """The `count` nodes (indexes into `nodes`, each one's free resources) that a job of
    `share` on each of `count` different nodes takes: those with the most CPU free that
    hold it; None when fewer than `count` do."""
    room = [i for i, free in enumerate(nodes) if share.fits_in(free)]
    if len(room) < count:
        return None
    return sorted(room, key=lambda i: -nodes[i].cpu)[:count]


def parse_capacity(text: str) -> Resources:
    """'cpu=8,gpu=2,memory=32Gi' -> Resources; keys left out are 0."""
    values: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or key.strip() not in ("cpu", "gpu", "memory"):
            raise InvalidInput(
                f"capacity {text!r} must look like cpu=8,gpu=2,memory=32Gi (keys: cpu, gpu, memory)"
            )
        values[key.strip()] = value.strip()
    try:
        return Resources(
            cpu=float(values.get("cpu", 0)),
            gpu=int(values.get("gpu", 0)),
            memory=parse_memory(values.get("memory", "0")),
        )
    except ValueError:
        raise InvalidInput(
            f"capacity {text!r}: cpu must be a number and gpu a whole number"
        ) from None
