"""The executor interface: start an attempt of a job, watch it, stop it."""

from __future__ import annotations

import signal
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fermion.errors import EXIT_UNRECOVERABLE
from fermion.resources import Resources

Handle = dict[str, Any]  # JSON-serialisable; stored with the job to find it again


@dataclass
class Isolation:
    """Run the command where `hide` folders look empty but for `keep` (sandbox.py)."""

    hide: list[Path]
    keep: list[Path]


@dataclass
class LaunchSpec:
    job_id: int
    attempt: int
    command: list[str]
    nproc: int  # processes per node
    env: dict[str, str]
    job_dir: Path  # the job's folder (files.py), kept across attempts
    code_dir: Path  # the working directory of the command
    attempt_dir: Path  # where the executor keeps this attempt's state and log
    log_path: Path
    gpu_ids: list[int] = field(default_factory=list)
    isolation: Isolation | None = None
    masked: list[str] = field(default_factory=list)  # env names whose values the log hides
    resources: Resources = field(default_factory=Resources)  # admitted, on each node
    nodes: int = 1


@dataclass
class ExitStatus:
    exit_code: int | None  # None when killed by a signal
    signal: int | None = None

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0

    def describe(self) -> str:
        if self.signal is not None:
            try:
                name = signal.Signals(self.signal).name
            except ValueError:
                name = "unknown signal"
            return f"killed by signal {self.signal} ({name})"
        return f"exit code {self.exit_code}: see logs"

    @property
    def unrecoverable(self) -> bool:
        return self.exit_code == EXIT_UNRECOVERABLE


class Lost:
    """The attempt's processes are gone and left no exit status (e.g. the machine
    rebooted, or its supervisor was killed)."""

    def describe(self) -> str:
        return "lost: the job's processes ended without reporting an exit status"


NOT_PLACED = "not placed: "  # how a NotPlaced reason starts, kept while the job waits


class NotPlaced(Lost):
    """The attempt never started: no machine could hold it. The job goes back to the
    queue without using up one of its tries."""

    def describe(self) -> str:
        return NOT_PLACED + "no machine had room for it"


Progress = Literal["starting", "running"]


class Executor(ABC):
    name: str
    spans_nodes = False  # whether one job may run on several machines (`--nodes`)

    def node_count(self) -> int:
        """The machines a job may span now."""
        return 1

    def nodes(self) -> list[Resources]:
        """What each machine has."""
        return [self.capacity()]

    def nodes_free(self, placed: list[Handle]) -> list[Resources] | None:
        """What each machine has free beside the attempts `placed`, where a job must fit
        on machines one by one; None on one machine (the totals say it all)."""
        return None

    def sync(self, handle: Handle) -> None:  # noqa: B027 - nothing to do where one disk
        """Bring the job's folder on the server up to date with the attempt's own (on a
        node that does not mount the server's home); a job reads it mid-run."""

    @abstractmethod
    def capacity(self) -> Resources:
        """Everything jobs may use at once."""

    @abstractmethod
    def launch(self, spec: LaunchSpec) -> Handle:
        """Start the attempt and return at once."""

    @abstractmethod
    def poll(self, handle: Handle) -> Progress | ExitStatus | Lost:
        """Where the attempt is; safe to call for attempts started before a restart."""

    @abstractmethod
    def terminate(self, handle: Handle, grace_s: float) -> None:
        """Stop every process of the attempt: SIGTERM, then SIGKILL after `grace_s`."""

    @abstractmethod
    def memory_used(self, handle: Handle, limit: int) -> int:
        """Resident memory of the attempt's processes, in bytes: on its busiest node, for
        a job of several (its memory limit is per node). Exact only past `limit`: below
        it a bound or an estimate that is cheaper to read may stand in (`MemoryGauge`)."""
