"""RayExecutor: each attempt of a job runs on a node of a Ray cluster
(`fermion server start --executor ray --ray-address HOST:PORT`).

An attempt is a detached actor, `AttemptRunner`, named after the server and the attempt
(the name is kept with the job, so a restarted server finds it again), in a placement
group that holds the job's CPUs, GPUs and memory as one bundle on one node. The actor
starts the same supervisor as the local executor (supervise.py) on its node and answers
for it: whether it still runs, the memory it uses, and stopping it. The supervisor dies with the actor, so a node that
is lost takes its jobs with it, and the scheduler sees the attempt as lost.

A job of several nodes (`--nodes N`) has a placement group of N bundles spread over N
nodes and an actor on each: node 0's actor picks the address of torchrun's rendezvous on
its node, the others ask it for that address, and each node runs torchrun with its
`--node-rank` under a supervisor of its own.

The supervisor writes the attempt's state and log into the job's folder as it does
locally, on a node that mounts the server's home at the same path. A node that does not
runs the attempt in a copy of the job's folder of its own, which the server's poll
keeps in step (node_folder.py). FERMION_URL must be an address the nodes reach."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import secrets
import signal
import time
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError
from ray.util.placement_group import (
    get_placement_group,
    placement_group,
    placement_group_table,
    remove_placement_group,
)
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from fermion.errors import StillRunning
from fermion.resources import Resources
from fermion.scheduler.executor import (
    NOT_PLACED,
    Executor,
    ExitStatus,
    Handle,
    LaunchSpec,
    Lost,
    NotPlaced,
    Progress,
)
from fermion.scheduler.local import state_dir
from fermion.scheduler.ray_attempt import LAUNCH_MARK, NAMESPACE, AttemptRunner
from fermion.scheduler.ray_reports import CALL_TIMEOUT_S, Reports, actor_name

PLACEMENT_WAIT_S = 30.0  # an attempt no nodes can hold goes back to the queue after this
CAPACITY_TTL_S = 2.0
COULD_NOT_START = 125  # as the sandbox's: the command never ran
GATHER_WAIT_S = 10.0  # for the other nodes' last lines when one node failed


class Unplaced(NotPlaced):
    """No node (no set of nodes) of the cluster could hold the attempt in time: the
    cluster's totals had room, its nodes did not, or a node was lost meanwhile."""

    def __init__(self, wanted: str, nodes: list[str]) -> None:
        self.wanted, self.nodes = wanted, nodes

    def describe(self) -> str:
        return (
            f"{NOT_PLACED}no Ray node had room for {self.wanted} within"
            f" {PLACEMENT_WAIT_S:g}s (nodes: {'; '.join(self.nodes) or 'none alive'}); it"
            " waits in the queue and tries again; ask for less, or add nodes"
        )


class RayExecutor(Executor):
    name = "ray"
    spans_nodes = True

    def __init__(self, address: str, home: Path, grace_s: float = 5.0) -> None:
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False, logging_level="ERROR")
        self.grace_s = grace_s
        self.prefix = self.prefix_for(home)
        self._nodes: tuple[float, dict[str, Resources]] | None = None
        self.reports = Reports()

    @staticmethod
    def prefix_for(home: Path) -> str:
        """Several servers may share a cluster: each names its actors after its home."""
        return "fermion-" + hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:10]

    # -- the cluster ------------------------------------------------------------------
    def nodes(self) -> list[Resources]:
        return list(self._alive().values())

    def _alive(self) -> dict[str, Resources]:
        """What each alive node has, by its id, as of at most CAPACITY_TTL_S ago: nodes
        joining and leaving change it."""
        if self._nodes is None or time.monotonic() - self._nodes[0] > CAPACITY_TTL_S:
            alive = {n["NodeID"]: _resources(n["Resources"]) for n in ray.nodes() if n.get("Alive")}
            self._nodes = (time.monotonic(), alive)
        return self._nodes[1]

    def nodes_free(self, placed: list[Handle]) -> list[Resources]:
        """Each alive node's resources less the bundles of `placed` attempts on it (an
        attempt whose group is not placed yet holds none)."""
        free = dict(self._alive())
        names = {handle.get("actor") for handle in placed}
        with contextlib.suppress(Exception):  # the GCS busy: the totals still hold
            for group in placement_group_table().values():  # every group, in one call
                if group.get("name") not in names:
                    continue
                for index, node in group.get("bundles_to_node_id", {}).items():
                    if node in free:
                        free[node] = free[node] - _resources(group["bundles"][index])
        return list(free.values())

    def capacity(self) -> Resources:
        """The alive nodes' resources together."""
        return sum(self.nodes(), Resources())

    def node_count(self) -> int:
        return len(self.nodes())

    # -- attempts ---------------------------------------------------------------------
    def launch(self, spec: LaunchSpec) -> Handle:
        # Unique to this launch: an attempt that was not placed is launched again. Its
        # state folder is this launch's too: a supervisor the earlier try had started
        # (on a node that was lost before every node was placed) may still write there.
        token = secrets.token_hex(3)
        name = f"{self.prefix}-job-{spec.job_id}-{spec.attempt}-{token}"
        spec = dataclasses.replace(spec, attempt_dir=spec.attempt_dir / f"launch-{token}")
        spec.attempt_dir.mkdir(parents=True)
        (spec.attempt_dir / LAUNCH_MARK).write_text(name)  # a node that reads it sees the home
        wanted = spec.resources
        bundle = {"CPU": max(wanted.cpu, 0.01), "GPU": float(wanted.gpu), "memory": wanted.memory}
        group = placement_group(
            [{k: v for k, v in bundle.items() if v}] * spec.nodes,
            strategy="STRICT_PACK" if spec.nodes == 1 else "STRICT_SPREAD",
            name=name,
            lifetime="detached",
        )
        for rank in range(spec.nodes):
            AttemptRunner.options(
                name=actor_name(name, rank),
                namespace=NAMESPACE,
                lifetime="detached",
                num_cpus=bundle["CPU"],
                num_gpus=wanted.gpu,
                memory=wanted.memory or None,
                scheduling_strategy=PlacementGroupSchedulingStrategy(group, rank),
            ).remote(spec, self.grace_s, rank, name)
        return {
            "actor": name,
            "nodes": spec.nodes,
            "state_dir": str(spec.attempt_dir),
            "job_dir": str(spec.job_dir),
            "log": str(spec.log_path),
            "launched_at": time.time(),
            "wanted": wanted.describe_per_node(spec.nodes),
        }

    def _actors(self, handle: Handle) -> list[Any]:
        """The attempt's actor on each node (None where it is gone: ended, or its node)."""
        found = []
        for rank in range(handle.get("nodes", 1)):
            try:
                found.append(ray.get_actor(actor_name(handle["actor"], rank), NAMESPACE))
            except ValueError:
                found.append(None)
        return found

    def poll(self, handle: Handle) -> Progress | ExitStatus | Lost:
        actors = self._actors(handle)
        nodes = [self._node_state(handle, rank, actor) for rank, actor in enumerate(actors)]
        ended = [state for state in nodes if isinstance(state, ExitStatus)]
        failed = [state for state in ended if not state.succeeded]
        if failed or len(ended) == len(nodes):  # one node's failure ends the others
            self._release(handle, actors, gather=bool(failed))
            return (failed or ended)[0]
        if "dead" in nodes:
            self._release(handle, actors, gather=True)
            return Lost()
        waited = time.time() - handle["launched_at"]
        if "pending" in nodes and not self._placed(handle) and waited > PLACEMENT_WAIT_S:
            self._release(handle, actors)
            return Unplaced(handle["wanted"], [n.describe() for n in self.nodes()])
        return "running" if all(state in ("running", *ended) for state in nodes) else "starting"

    def _node_state(self, handle: Handle, rank: int, actor: Any) -> Any:
        """One node's part: an ExitStatus, "running", "starting", "pending" (not placed
        or not answering yet) or "dead" (the actor or its node is gone)."""
        several = handle.get("nodes", 1) > 1
        state = state_dir(Path(handle["state_dir"]), rank if several else None)
        if "job_dir" in handle:  # None: the supervisor runs; a number: it ended
            answer = self.reports.state(handle, rank, actor)
        else:  # launched by an earlier version, whose actor answers only this
            answer = self._call(actor, "returncode") if actor is not None else "dead"
        if answer == "stopped":  # cancelled before its job's folder came
            return ExitStatus(exit_code=None, signal=signal.SIGTERM)
        if answer == "failed":  # its job's folder could not be unpacked there
            return ExitStatus(exit_code=COULD_NOT_START)
        ended = state / "exit.json"
        if ended.exists() and answer not in (None, "pending"):
            return ExitStatus(**json.loads(ended.read_text()))
        if answer is None or ended.exists():  # written; just leaving
            return "running" if (state / "started.json").exists() else "starting"
        return answer

    def sync(self, handle: Handle) -> None:
        if "job_dir" in handle:
            self.reports.sync(handle, self._actors(handle))

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

    def _release(self, handle: Handle, actors: list[Any], gather: bool = False) -> None:
        """The attempt's actors and placement group, given back to the cluster. A node's
        supervisor dies with its actor, and stops what it runs. `gather`: the other
        nodes' files and log lines first, up to their end (one node failed or was lost)."""
        if gather and "job_dir" in handle:
            with contextlib.suppress(StillRunning):
                self.reports.sync(handle, actors, wait_s=GATHER_WAIT_S)
        self.reports.discard(handle, actors)
        for actor in actors:
            if actor is not None:
                with contextlib.suppress(Exception):
                    ray.kill(actor, no_restart=True)
        with contextlib.suppress(Exception):
            remove_placement_group(get_placement_group(handle["actor"]))

    def terminate(self, handle: Handle, grace_s: float) -> None:
        for actor in self._actors(handle):
            if actor is not None:
                actor.terminate.remote(grace_s)

    def memory_used(self, handle: Handle, limit: int) -> int:
        used = [self._call(a, "memory", limit) for a in self._actors(handle) if a is not None]
        return max((u for u in used if isinstance(u, int)), default=0)


def _resources(ray_resources: dict[str, float]) -> Resources:
    """A node's or a bundle's resources, as Ray names them."""
    return Resources(
        cpu=float(ray_resources.get("CPU", 0)),
        gpu=int(ray_resources.get("GPU", 0)),
        memory=int(ray_resources.get("memory", 0)),
    )
