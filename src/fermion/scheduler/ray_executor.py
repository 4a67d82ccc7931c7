"""RayExecutor: each attempt of a job runs on a node of a Ray cluster
(`fermion server start --executor ray --ray-address HOST:PORT`).

An attempt is a detached actor, `AttemptRunner`, named after the server and the attempt
(so a restarted server finds it again), in a placement group that holds the job's CPUs,
GPUs and memory as one bundle on one node. The actor starts the same supervisor as the
local executor (supervise.py) on its node and answers for it: whether it still runs,
the memory it uses, and stopping it. The supervisor dies with the actor, so a node that
is lost takes its jobs with it, and the scheduler sees the attempt as lost.

The supervisor writes the attempt's state and log into the job's folder as it does
locally: the server's home must be on a filesystem every node mounts at the same path
(one machine, or a shared volume), and FERMION_URL an address the nodes reach."""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import psutil
import ray
from ray.exceptions import GetTimeoutError, RayActorError
from ray.util.placement_group import (
    get_placement_group,
    placement_group,
    placement_group_table,
    remove_placement_group,
)
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from fermion.resources import Resources
from fermion.scheduler.executor import Executor, ExitStatus, Handle, LaunchSpec, Lost, Progress
from fermion.scheduler.local import memory_of, stop_tree, supervised

NAMESPACE = "fermion"
PLACEMENT_WAIT_S = 120.0  # a job no node can hold fails after this, saying so
CAPACITY_TTL_S = 2.0
CALL_TIMEOUT_S = 2.0  # an actor's answer; slower counts as "pending"
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the supervisor before it runs: end it when the actor's process ends."""
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@ray.remote(num_cpus=0, max_restarts=0)
class AttemptRunner:
    """On its node: the attempt's supervisor, started at once."""

    def __init__(self, command: list[str], cwd: str, env: dict[str, str], log: str) -> None:
        context = ray.get_runtime_context()
        env = {**env, "FERMION_NODE_ID": context.get_node_id()}
        gpus = context.get_accelerator_ids().get("GPU", [])
        if gpus:  # this node's own numbering, as Ray assigned them
            env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    def returncode(self) -> int | None:
        return self.process.poll()

    def node(self) -> str:
        return ray.get_runtime_context().get_node_id()

    def terminate(self, grace_s: float) -> None:
        stop_tree(_tree(self.process.pid), grace_s)

    def memory(self) -> int:
        return memory_of(_tree(self.process.pid))


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


class Unplaced(Lost):
    """No node of the cluster could hold the attempt in time."""

    def __init__(self, wanted: str, nodes: list[str]) -> None:
        self.wanted, self.nodes = wanted, nodes

    def describe(self) -> str:
        return (
            f"no Ray node had room for {self.wanted} within {PLACEMENT_WAIT_S:g}s"
            f" (nodes: {'; '.join(self.nodes) or 'none alive'}); ask for less, or add nodes"
        )


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, address: str, home: Path, grace_s: float = 5.0) -> None:
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False, logging_level="ERROR")
        self.grace_s = grace_s
        self.prefix = self.prefix_for(home)
        self._capacity: tuple[float, Resources] | None = None

    @staticmethod
    def prefix_for(home: Path) -> str:
        """Several servers may share a cluster: each names its actors after its home."""
        return "fermion-" + hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:10]

    # -- the cluster ------------------------------------------------------------------
    def nodes(self) -> list[Resources]:
        """What each alive node has."""
        return [
            Resources(
                cpu=float(n["Resources"].get("CPU", 0)),
                gpu=int(n["Resources"].get("GPU", 0)),
                memory=int(n["Resources"].get("memory", 0)),
            )
            for n in ray.nodes()
            if n.get("Alive")
        ]

    def capacity(self) -> Resources:
        """The alive nodes' resources together, as of at most CAPACITY_TTL_S ago: nodes
        joining and leaving change it."""
        if self._capacity is None or time.monotonic() - self._capacity[0] > CAPACITY_TTL_S:
            total = sum(self.nodes(), Resources())
            self._capacity = (time.monotonic(), total)
        return self._capacity[1]

    # -- attempts ---------------------------------------------------------------------
    def launch(self, spec: LaunchSpec) -> Handle:
        name = f"{self.prefix}-job-{spec.job_id}-{spec.attempt}"
        wanted = spec.resources
        bundle = {"CPU": max(wanted.cpu, 0.01), "GPU": float(wanted.gpu), "memory": wanted.memory}
        group = placement_group(
            [{k: v for k, v in bundle.items() if v}], strategy="STRICT_PACK", name=name,
            lifetime="detached",
        )  # fmt: skip
        AttemptRunner.options(
            name=name,
            namespace=NAMESPACE,
            lifetime="detached",
            num_cpus=bundle["CPU"],
            num_gpus=wanted.gpu,
            memory=wanted.memory or None,
            scheduling_strategy=PlacementGroupSchedulingStrategy(group, 0),
        ).remote(supervised(spec, self.grace_s), str(spec.code_dir), spec.env, str(spec.log_path))
        return {
            "actor": name,
            "state_dir": str(spec.attempt_dir),
            "launched_at": time.time(),
            "wanted": wanted.describe(),
        }

    def _actor(self, handle: Handle) -> Any:
        try:
            return ray.get_actor(handle["actor"], namespace=NAMESPACE)
        except ValueError:  # no such actor: ended, or its node is gone
            return None

    def poll(self, handle: Handle) -> Progress | ExitStatus | Lost:
        state = Path(handle["state_dir"])
        actor = self._actor(handle)
        # None: the supervisor runs; a number: it ended; "pending": no answer yet (the
        # actor waits for a node, or is busy); "dead": the actor or its node is gone.
        answer = self._call(actor, "returncode") if actor is not None else "dead"
        started = (state / "started.json").exists()
        if (state / "exit.json").exists():
            if answer is None:
                return "running"  # written; the supervisor is just leaving
            self._release(handle)
            return ExitStatus(**json.loads((state / "exit.json").read_text()))
        waited = time.time() - handle["launched_at"]
        if answer is None or (
            answer == "pending" and (self._placed(handle) or waited < PLACEMENT_WAIT_S)
        ):
            return "running" if started else "starting"
        self._release(handle)
        if answer == "pending":
            return Unplaced(handle["wanted"], [n.describe() for n in self.nodes()])
        return Lost()

    def _call(self, actor: Any, method: str, *args: Any) -> Any:
        """An actor's answer; "pending" while it is not placed yet; "dead" if it died."""
        try:
            return ray.get(getattr(actor, method).remote(*args), timeout=CALL_TIMEOUT_S)
        except GetTimeoutError:
            return "pending"
        except RayActorError:
            return "dead"

    def _placed(self, handle: Handle) -> bool | None:
        with contextlib.suppress(Exception):  # the group may be gone already
            group = get_placement_group(handle["actor"])
            return placement_group_table(group).get("state") == "CREATED"
        return None

    def _release(self, handle: Handle) -> None:
        """The attempt's actor and placement group, given back to the cluster."""
        actor = self._actor(handle)
        if actor is not None:
            with contextlib.suppress(Exception):
                ray.kill(actor, no_restart=True)
        with contextlib.suppress(Exception):
            remove_placement_group(get_placement_group(handle["actor"]))

    def terminate(self, handle: Handle, grace_s: float) -> None:
        actor = self._actor(handle)
        if actor is not None:
            actor.terminate.remote(grace_s)

    def memory_used(self, handle: Handle) -> int:
        actor = self._actor(handle)
        used = self._call(actor, "memory") if actor is not None else 0
        return used if isinstance(used, int) else 0
