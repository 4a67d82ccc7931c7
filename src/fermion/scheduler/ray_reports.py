"""The server's side of what an attempt's actors report (ray_attempt.py): whether each
node's supervisor still runs, and, for a node that does not mount the server's home,
its job folder shipped to it and its changes written into the job's folder here
(node_folder.py).

An actor's answer may take longer than a poll waits (a batch of a large checkpoint): the
question stays asked, and a later poll takes the answer. One caller at a time (the
scheduler's poll, or a request that reads the job's files mid-run), so each batch is
written once; the number of the last one written is kept beside the attempt's state,
so a restarted server does not write it again."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayError

from fermion.errors import StillRunning
from fermion.scheduler.executor import Handle
from fermion.scheduler.node_folder import apply, pack

log = logging.getLogger("fermion.scheduler")

CALL_TIMEOUT_S = 2.0  # a poll's wait for an actor's answer
SYNC_WAIT_S = 120.0  # a request's wait for a node's files


def actor_name(attempt: str, rank: int) -> str:
    """Node 0's actor is named after the attempt; node r's after it too, with its rank."""
    return attempt if rank == 0 else f"{attempt}-node{rank}"


class Reports:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._asked: dict[str, tuple[Any, bool]] = {}  # actor -> (its answer, scanned)
        self._answered: set[str] = set()  # placed and started: a slow answer is not "pending"
        self._applied: dict[str, int] = {}  # actor -> the last batch written
        self._shipped: set[str] = set()

    def state(self, handle: Handle, rank: int, actor: Any) -> Any:
        """None while the node's supervisor runs (or what it changed is still coming),
        its exit code once it ended and all of that came, "pending" (never answered),
        "dead" (the actor or its node gone), "stopped" (cancelled before it started) or
        "failed" (it could not start there)."""
        answer = self.exchange(handle, rank, actor)
        if answer == "busy":
            return None
        if isinstance(answer, str):
            return answer
        if answer.get("failure"):  # it could not start there: said in the job's log
            with contextlib.suppress(OSError), open(handle["log"], "a") as out:
                out.write(f"fermion: node {rank}: {answer['failure']}\n")
            return "failed"
        if answer.get("stopped"):
            return "stopped"
        changes = answer.get("changes")
        return None if changes is not None and changes["left"] else answer["code"]

    def exchange(
        self,
        handle: Handle,
        rank: int,
        actor: Any,
        scan: bool = False,
        wait: float = CALL_TIMEOUT_S,
    ) -> dict[str, Any] | str:
        """The actor's answer, its changes written here and its folder shipped if it
        asks; "pending", "busy" (answered before, not yet this time) or "dead"."""
        if actor is None:
            return "dead"
        name = actor_name(handle["actor"], rank)
        with self.lock:
            if name not in self._asked:
                applied = self._applied_batch(handle, rank, name)
                self._asked[name] = (actor.report.remote(applied, scan), scan)
            reply, scanned = self._asked[name]
            try:
                answer = ray.get(reply, timeout=wait)
            except GetTimeoutError:
                return "busy" if name in self._answered else "pending"
            except RayActorError:
                del self._asked[name]
                return "dead"
            except RayError as exc:  # its method failed: the attempt cannot be followed
                del self._asked[name]
                log.warning("attempt %s: its actor failed to answer: %s", name, exc)
                return "dead"
            del self._asked[name]
            self._answered.add(name)
            if answer.get("wants_folder"):
                self._ship(handle, actor, name)
            elif answer.get("changes") is not None:
                self._write(handle, rank, name, answer)
            return {**answer, "scanned": scanned}

    def sync(self, handle: Handle, actors: list[Any], wait_s: float = SYNC_WAIT_S) -> None:
        """Everything the nodes have changed, written here: before a job's files are read
        while it runs (the trainer registering its model)."""
        deadline = time.monotonic() + wait_s
        for rank, actor in enumerate(actors):
            while True:
                left = deadline - time.monotonic()
                answer = self.exchange(handle, rank, actor, scan=True, wait=max(left, 0.1))
                if not isinstance(answer, dict) or answer.get("changes") is None:
                    break  # gone, not started, or on a node that mounts the home
                if answer["scanned"] and not answer["changes"]["left"]:
                    break
                if left <= 0:
                    raise StillRunning(
                        f"node {rank} of the job has not sent all its files in {wait_s:g}s;"
                        " try again"
                    )

    def _ship(self, handle: Handle, actor: Any, name: str) -> None:
        if name in self._shipped:
            return
        try:
            packed = ray.put(pack(Path(handle["job_dir"])))
        except (OSError, RayError) as exc:  # tried again at the next poll
            log.warning("attempt %s: cannot ship the job's folder: %s", name, exc)
            return
        actor.receive.remote(packed)
        self._shipped.add(name)

    def _write(self, handle: Handle, rank: int, name: str, answer: dict[str, Any]) -> None:
        if answer["number"] <= self._applied_batch(handle, rank, name):
            return  # written before (a restarted server asked again)
        problems = apply(answer["changes"], Path(handle["job_dir"]), Path(handle["log"]))
        for problem in problems:
            log.warning("attempt %s: a file from its node not written: %s", name, problem)
        self._applied[name] = answer["number"]
        with contextlib.suppress(OSError):
            mark = Path(handle["state_dir"]) / f"applied-{rank}"
            mark.with_suffix(".tmp").write_text(str(answer["number"]))
            mark.with_suffix(".tmp").replace(mark)

    def _applied_batch(self, handle: Handle, rank: int, name: str) -> int:
        if name not in self._applied:
            with contextlib.suppress(OSError, ValueError):
                mark = Path(handle["state_dir"]) / f"applied-{rank}"
                self._applied[name] = int(mark.read_text())
        return self._applied.get(name, 0)

    def discard(self, handle: Handle, actors: list[Any]) -> None:
        """The nodes' copies of the job's folder removed, and the attempt forgotten here
        (under the lock: no report comes between)."""
        with self.lock:
            for rank, actor in enumerate(actors):
                name = actor_name(handle["actor"], rank)
                for kept in (self._asked, self._applied):
                    kept.pop(name, None)
                self._answered.discard(name)
                self._shipped.discard(name)
                if actor is not None:
                    with contextlib.suppress(Exception):  # its node may be gone
                        ray.get(actor.discard.remote(), timeout=CALL_TIMEOUT_S)
