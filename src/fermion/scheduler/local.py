"""LocalExecutor: each attempt is a supervisor process (see supervise.py) in a session
of its own on this machine, running the command plainly or under torchrun."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import psutil

from fermion.resources import Resources
from fermion.scheduler.executor import (
    Executor,
    ExitStatus,
    Handle,
    Isolation,
    LaunchSpec,
    Lost,
    Progress,
)
from fermion.scheduler.memory import MemoryGauge
from fermion.scheduler.tf_config import free_addresses

PYTHON_NAMES = {"python", "python3", f"python3.{sys.version_info.minor}"}


def detect_gpus() -> int:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
            return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))
        except (OSError, subprocess.TimeoutExpired):
            return 0
    return 0


@dataclass(frozen=True)
class NodeRank:
    """One node of a job that spans several: torchrun's static rendezvous, hosted by
    node 0's launcher at `master` (HOST:PORT)."""

    nodes: int
    rank: int
    master: str


def process_command(
    command: list[str], nproc: int, attempt_dir: Path, node: NodeRank | None = None
) -> list[str]:
    """The command as it is run: `python` is this environment's Python (where Fermion
    is installed); with nproc > 1, or on several nodes, under torchrun with a rank prefix
    on every line. On one node each rank also gets TF_CONFIG for TensorFlow's multi-worker
    strategy (tf_config.py)."""
    if command and Path(command[0]).name in PYTHON_NAMES:
        command = [sys.executable, *command[1:]]
    if nproc <= 1 and node is None:
        return list(command)
    if node is None:
        rendezvous = ["--standalone"]
        tensorflow = [
            sys.executable,
            "-m",
            "fermion.scheduler.tf_config",
            f"--workers={','.join(free_addresses(nproc))}",
            "--",
        ]
    else:
        host, _, port = node.master.rpartition(":")
        rendezvous = [
            f"--nnodes={node.nodes}",
            f"--node-rank={node.rank}",
            f"--master-addr={host}",
            f"--master-port={port}",
        ]
        tensorflow = []
    logs = attempt_dir / ("torchrun" if node is None else f"torchrun-node{node.rank}")
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        *rendezvous,
        f"--nproc-per-node={nproc}",
        "--tee=3",
        "--log-line-prefix-template=[rank${rank}]: ",  # the global rank
        f"--log-dir={logs}",
        "--no-python",
        *tensorflow,
        *command,  # runs the exact command per rank: scripts, -m and -c alike
    ]


def isolated(command: list[str], isolation: Isolation | None) -> list[str]:
    """The command, run inside a sandbox where it sees only what it may (sandbox.py)."""
    if isolation is None:
        return command
    folders = [f"--hide={p}" for p in isolation.hide] + [f"--keep={p}" for p in isolation.keep]
    return [sys.executable, "-m", "fermion.scheduler.sandbox", *folders, "--", *command]


def state_dir(attempt_dir: Path, node_rank: int | None = None) -> Path:
    """Where the supervisor of the attempt writes its state; on a job of several nodes,
    each node's supervisor in a folder of its own."""
    return attempt_dir if node_rank is None else attempt_dir / f"node-{node_rank}"


def supervised(spec: LaunchSpec, grace_s: float, node: NodeRank | None = None) -> list[str]:
    """The attempt's supervisor (supervise.py) running its command; its folders made.
    The nodes of a multi-node job each have a supervisor, all writing to one log."""
    state = state_dir(spec.attempt_dir, node.rank if node else None)
    state.mkdir(parents=True, exist_ok=True)
    spec.log_path.parent.mkdir(parents=True, exist_ok=True)
    command = process_command(spec.command, spec.nproc, spec.attempt_dir, node)
    return [
        sys.executable,
        "-m",
        "fermion.scheduler.supervise",
        f"--state-dir={state}",
        f"--log={spec.log_path}",
        f"--grace={grace_s}",
        *([f"--mask-env={','.join(spec.masked)}"] if spec.masked else []),
        "--",
        *isolated(command, spec.isolation),
    ]


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, capacity: Resources | None = None, grace_s: float = 5.0) -> None:
        self._capacity = capacity or Resources(
            cpu=float(os.cpu_count() or 1),
            gpu=detect_gpus(),
            memory=psutil.virtual_memory().total,
        )
        self.grace_s = grace_s
        self._children: dict[int, subprocess.Popen] = {}  # started by this server: reaped here
        self._gauges: dict[tuple[int, float], MemoryGauge] = {}  # running attempts' memory

    def capacity(self) -> Resources:
        return self._capacity

    def launch(self, spec: LaunchSpec) -> Handle:
        command = supervised(spec, self.grace_s)
        with open(spec.log_path, "ab") as log:
            process = subprocess.Popen(
                command,
                cwd=spec.code_dir,
                env=spec.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._children[process.pid] = process
        return {
            "pid": process.pid,
            "create_time": psutil.Process(process.pid).create_time(),
            "state_dir": str(spec.attempt_dir),
        }

    def _process(self, handle: Handle) -> psutil.Process | None:
        """The supervisor, if it is still running (and is the same process)."""
        child = self._children.get(handle["pid"])
        if child is not None and child.poll() is not None:
            self._children.pop(handle["pid"], None)
            return None
        try:
            process = psutil.Process(handle["pid"])
            if abs(process.create_time() - handle["create_time"]) > 0.5:
                return None  # the pid was reused
            if process.status() == psutil.STATUS_ZOMBIE:
                return None
            return process
        except psutil.Error:
            return None

    def poll(self, handle: Handle) -> Progress | ExitStatus | Lost:
        state = Path(handle["state_dir"])
        alive = self._process(handle) is not None
        exit_file = state / "exit.json"
        if alive:  # with exit.json written, the supervisor is just leaving
            started = exit_file.exists() or (state / "started.json").exists()
            return "running" if started else "starting"
        self._gauges.pop(_attempt_key(handle), None)
        if exit_file.exists():
            return ExitStatus(**json.loads(exit_file.read_text()))
        return Lost()

    def _tree(self, handle: Handle) -> list[psutil.Process]:
        process = self._process(handle)
        if process is None:
            return []
        try:
            return [process, *process.children(recursive=True)]
        except psutil.Error:
            return [process]

    def terminate(self, handle: Handle, grace_s: float) -> None:
        stop_tree(self._tree(handle), grace_s)

    def memory_used(self, handle: Handle, limit: int) -> int:
        gauge = self._gauges.setdefault(_attempt_key(handle), MemoryGauge())
        return gauge.read(self._tree(handle), limit)


def _attempt_key(handle: Handle) -> tuple[int, float]:
    return handle["pid"], handle["create_time"]


def stop_tree(tree: list[psutil.Process], grace_s: float) -> None:
    """SIGTERM to the supervisor (tree[0]), which stops the rest; SIGKILL to whatever of
    the tree is left after the grace."""
    if not tree:
        return
    with contextlib.suppress(psutil.Error):
        tree[0].send_signal(signal.SIGTERM)

    def kill_leftovers() -> None:
        for process in tree:  # taken now: orphans lose their parent link later
            with contextlib.suppress(psutil.Error):
                process.kill()

    timer = threading.Timer(grace_s + 2.0, kill_leftovers)
    timer.daemon = True
    timer.start()
