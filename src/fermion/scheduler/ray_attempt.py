"""AttemptRunner: the Ray actor that runs one attempt of a job (its part on one node)
on the node it is placed on, under the same supervisor as the local executor
(supervise.py). The server's side is ray_executor.py."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import tarfile
import threading
import time
from typing import Any

import psutil
import ray

from fermion.scheduler.executor import LaunchSpec
from fermion.scheduler.local import NodeRank, stop_tree, supervised
from fermion.scheduler.memory import MemoryGauge
from fermion.scheduler.node_folder import Changes, NodeFolder, sweep
from fermion.scheduler.tf_config import free_addresses

NAMESPACE = "fermion"
PR_SET_PDEATHSIG = 1
RAYLET_CHECK_S = 0.5
LAUNCH_MARK = "launch"  # in the launch's state folder: a node that reads it sees the home


def _socket_interface(env: dict[str, str], ip: str) -> dict[str, str]:
    """Gloo and NCCL pick their interface from the hostname, which on a VM may resolve
    to an address the other nodes do not reach: name the one that holds the node's
    address Ray uses, unless the job names one itself (`--env GLOO_SOCKET_IFNAME=...`)."""
    found = [
        name
        for name, addresses in psutil.net_if_addrs().items()
        if any(a.address == ip for a in addresses)
    ]
    if not found:
        return {}
    return {k: found[0] for k in ("GLOO_SOCKET_IFNAME", "NCCL_SOCKET_IFNAME") if k not in env}


def _die_with_parent() -> None:
    """In the supervisor before it runs: end it when the actor's process ends."""
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@ray.remote(num_cpus=0, max_restarts=0)
class AttemptRunner:
    """On its node: the supervisor of the attempt (of its part, on one of several nodes),
    started at once where the node mounts the server's home, else once the server has
    shipped the job's folder (`receive`)."""

    def __init__(self, spec: LaunchSpec, grace_s: float, rank: int, first: str) -> None:
        context = ray.get_runtime_context()
        self.spec, self.grace_s, self.name = spec, grace_s, context.get_actor_name()
        self.process: subprocess.Popen | None = None
        self.gauge = MemoryGauge()
        self.folder: NodeFolder | None = None
        self.batch: tuple[int, Changes | None] = (0, None)
        self.stopped, self.failure = False, None
        ip = ray.util.get_node_ip_address()
        self.node_env = {"FERMION_NODE_ID": context.get_node_id(), "FERMION_NODE_IP": ip}
        gpus = context.get_accelerator_ids().get("GPU", [])
        if gpus:  # this node's own numbering, as Ray assigned them
            self.node_env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
        self.node = None
        if spec.nodes > 1:
            if rank == 0:
                self.master = free_addresses(1, ip)[0]
            else:  # node 0's actor is placed with this one (one placement group)
                self.master = ray.get(_named(first).rendezvous.remote())
            self.node = NodeRank(spec.nodes, rank, self.master)
            self.node_env |= _socket_interface(spec.env, ip)
        if _sees_server(spec, first):
            self._start(spec)

    def receive(self, packed: bytes) -> None:
        """The job's folder, for a node that does not mount the server's home."""
        if self.process is not None or self.stopped:
            return
        with contextlib.suppress(Exception):  # a folder left behind is swept next time
            alive = {a["name"] for a in ray.util.list_named_actors(all_namespaces=True)}
            sweep(self.name.partition("-job-")[0] + "-job-", alive)
        try:
            self.folder = NodeFolder(self.spec, packed, self.name)
        except (OSError, tarfile.TarError) as exc:  # the node's disk full, say
            self.stopped, self.failure = True, f"cannot unpack the job's folder here: {exc}"
            return
        self._start(self.folder.spec)

    def _start(self, spec: LaunchSpec) -> None:
        with open(spec.log_path, "ab") as out:
            self.process = subprocess.Popen(
                supervised(spec, self.grace_s, self.node),
                cwd=spec.code_dir,
                env={**spec.env, **self.node_env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        threading.Thread(target=self._end_with_raylet, daemon=True).start()

    def _end_with_raylet(self) -> None:
        """A node whose raylet is gone is lost to the cluster, and the attempt is retried
        elsewhere: stop it here too (the actor's process may outlive its raylet), so it
        never runs beside its retry."""
        try:
            raylet = psutil.Process(os.getppid())  # Ray's workers are the raylet's children
        except psutil.Error:
            return
        if raylet.name() != "raylet" or self.process is None:
            return
        while _alive(raylet) and self.process.poll() is None:
            time.sleep(RAYLET_CHECK_S)
        if self.process.poll() is None:
            stop_tree(_tree(self.process.pid), 0.0)

    def rendezvous(self) -> str:
        return self.master

    def report(self, applied: int, scan: bool = False) -> dict[str, Any]:
        """The supervisor's exit code (None while it runs) and, on a node of its own
        folder, what changed there: batch by numbered batch, each sent again until the
        server says it applied it. `scan`: look at every file now, not only at the log.
        `wants_folder`: this node does not see the home, and waits for the folder."""
        if self.process is None:
            return {
                "code": None,
                "wants_folder": not self.stopped,
                "stopped": self.stopped,
                "failure": self.failure,
            }
        code = self.process.poll()
        if self.folder is None:
            return {"code": code, "changes": None}
        number, pending = self.batch
        if pending is None or applied >= number:
            self.batch = number + 1, self.folder.changes(final=code is not None, scan=scan)
        number, changes = self.batch
        return {"code": code, "number": number, "changes": changes}

    def discard(self) -> None:
        """The node's copy of the job's folder, once the server has what it needs."""
        if self.folder is not None:
            self.folder.discard()

    def node_id(self) -> str:
        return ray.get_runtime_context().get_node_id()

    def terminate(self, grace_s: float) -> None:
        self.stopped = True  # before the folder came: it never starts
        if self.process is not None:
            stop_tree(_tree(self.process.pid), grace_s)

    def memory(self, limit: int) -> int:
        return 0 if self.process is None else self.gauge.read(_tree(self.process.pid), limit)


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _sees_server(spec: LaunchSpec, launch: str) -> bool:
    """Whether this node mounts the server's home: the launch's mark is there."""
    with contextlib.suppress(OSError):
        return (spec.attempt_dir / LAUNCH_MARK).read_text() == launch
    return False


def _named(name: str, wait_s: float = 30.0) -> Any:
    """An actor by name, waiting while its creation is still being registered."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return ray.get_actor(name, namespace=NAMESPACE)
        except ValueError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []
