"""Autoscaling: a deployment with bounds gets its replica count from the load that the
gateway sees, as requests in flight (forwarded, or waiting for a replica).

- Up at once: when the requests in flight, averaged over the last UP_WINDOW_S, need more
  replicas than run (ceil(in flight / target)), the deployment gets them, up to its
  maximum and to what fits beside the other jobs (the server's capacity and the
  workspace's quota).
- Down slowly: only after fewer replicas would have done for the whole scale-down delay,
  and then to the most that the delay needed, not below the minimum. A burst after a
  quiet spell finds its replicas still there.
- From zero: with a minimum of 0, an idle deployment stops its last replica; a request
  that then arrives waits in the gateway (which counts it in flight), so the next pass
  starts one.

The load is averaged over time, not sampled: each change of the in-flight count adds
`count * seconds` to a running total, so a pass reads the exact mean since any moment.
Every change is recorded on the deployment with its reason (the last EVENTS_KEPT)."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from fermion.payloads import Autoscaling
from fermion.resources import Resources
from fermion.scheduler import quota
from fermion.store.tables import DeploymentRow

log = logging.getLogger("fermion.autoscaler")

UP_WINDOW_S = 4.0
EVENTS_KEPT = 20


@dataclass
class _Load:
    in_flight: int = 0
    total: float = 0.0  # request-seconds so far
    changed_at: float = field(default_factory=time.monotonic)
    marks: deque[tuple[float, float]] = field(default_factory=deque)  # (when, total then)

    def advance(self, now: float) -> None:
        self.total += self.in_flight * (now - self.changed_at)
        self.changed_at = now

    def mean(self, now: float) -> float:
        """Mean in flight since the oldest mark of the last UP_WINDOW_S (now, if none)."""
        since = next((m for m in self.marks if m[0] >= now - UP_WINDOW_S), None)
        if since is None or now - since[0] < 1e-3:
            return float(self.in_flight)
        return (self.total - since[1]) / (now - since[0])


class LoadMeter:
    """Requests in flight per deployment: counted by the gateway (on the event loop),
    read by the autoscaler (on the scheduler's thread)."""

    def __init__(self) -> None:
        self._loads: dict[str, _Load] = {}
        self._lock = threading.Lock()
        self.wakes: set[str] = set()  # deployments that a waiting request scales up from 0

    @contextmanager
    def request(self, deployment: str) -> Iterator[None]:
        self._add(deployment, 1)
        try:
            yield
        finally:
            self._add(deployment, -1)

    def _add(self, deployment: str, change: int) -> None:
        with self._lock:
            load = self._loads.setdefault(deployment, _Load())
            load.advance(time.monotonic())
            load.in_flight += change

    def recent(self, deployment: str) -> float:
        """Mean requests in flight over the last UP_WINDOW_S, as the autoscaler sees
        them (marks nothing)."""
        now = time.monotonic()
        with self._lock:
            load = self._loads.get(deployment)
            if load is None:
                return 0.0
            load.advance(now)
            return load.mean(now)

    def average(self, deployment: str) -> float:
        """Mean requests in flight over the last UP_WINDOW_S (or since the first pass
        that looked); marks the moment for the passes to come."""
        now = time.monotonic()
        with self._lock:
            load = self._loads.setdefault(deployment, _Load())
            load.advance(now)
            load.marks.append((now, load.total))
            while len(load.marks) > 1 and load.marks[1][0] <= now - UP_WINDOW_S - 1:
                load.marks.popleft()
            return load.mean(now)


@dataclass
class _Quiet:
    """Since when fewer replicas would have done, and the most needed since."""

    since: float
    needed: int


class Autoscaler:
    def __init__(self, meter: LoadMeter, free: Callable[[Session], Resources]) -> None:
        self.meter = meter
        self.free = free  # (session) -> Resources not used by active jobs
        self._quiet: dict[str, _Quiet] = {}

    def adjust(self, session: Session, row: DeploymentRow, live: int) -> None:
        """Set row.replicas for the load; `live` replicas run or are on their way."""
        if row.autoscaling is None:
            self._quiet.pop(row.name, None)
            self.meter.wakes.discard(row.name)
            return
        bounds = Autoscaling.model_validate(row.autoscaling)
        within = min(max(row.replicas, bounds.min_replicas), bounds.max_replicas)
        if within != row.replicas:  # bounds changed under a pass that read the old ones
            self._set(row, within, "brought within the autoscaling bounds")
        load = self.meter.average(row.name)
        needed = min(
            max(math.ceil(load / bounds.target_concurrency - 1e-9), bounds.min_replicas),
            bounds.max_replicas,
        )
        if bounds.min_replicas == 0:
            self.meter.wakes.add(row.name)
        else:
            self.meter.wakes.discard(row.name)
        now = time.monotonic()
        if needed > row.replicas:
            self._quiet.pop(row.name, None)
            room = self._room(session, row, needed - max(row.replicas, live))
            target = max(row.replicas, live) + room
            why = f"{load:.1f} requests in flight, target {bounds.target_concurrency:g} each"
            if target < needed:
                why += f"; {needed} wanted, room for {target}"
            self._set(row, min(target, needed), why)
        elif needed < row.replicas:
            quiet = self._quiet.setdefault(row.name, _Quiet(now, needed))
            quiet.needed = max(quiet.needed, needed)
            if now - quiet.since >= bounds.scale_down_delay_s:
                del self._quiet[row.name]
                self._set(
                    row,
                    quiet.needed,
                    f"{quiet.needed} would have done for {bounds.scale_down_delay_s:g} s",
                )
        else:
            self._quiet.pop(row.name, None)

    def _room(self, session: Session, row: DeploymentRow, more: int) -> int:
        """How many more replicas of `row` fit now, on the server and in its quota."""
        one = Resources(cpu=row.cpu, gpu=0, memory=row.memory_bytes)
        return quota.replicas_that_fit(session, row.workspace_id, one, self.free(session), more)

    @staticmethod
    def _set(row: DeploymentRow, replicas: int, reason: str) -> None:
        if replicas == row.replicas:
            return
        event = {
            "at": datetime.now(UTC).isoformat(),
            "before": row.replicas,
            "after": replicas,
            "reason": reason,
        }
        row.scale_events = [*(row.scale_events or []), event][-EVENTS_KEPT:]
        log.info("deployment %s: %d -> %d replicas (%s)", row.name, row.replicas, replicas, reason)
        row.replicas = replicas
