"""The gateway: sends a deployment's traffic to its ready replicas, round robin, and
probes every replica's /readyz to know which those are.

A request that cannot reach a replica (refused, or the connection dropped before an
answer: a replica that died or is stopping) is sent to the next ready one, so a
replica crash or a rolling update costs the caller nothing. Inference is idempotent,
which makes that retry safe.

aiohttp carries the traffic: forwarding with httpx's async client took about two thirds
of the server's time per request (measured with py-spy under load)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from starlette.responses import Response

from fermion.errors import ServerUnavailable
from fermion.server.services import deployments
from fermion.server.services.autoscaler import LoadMeter
from fermion.server.services.endpoint_access import EndpointAccess
from fermion.store.context import ServerContext

log = logging.getLogger("fermion.gateway")

PROBE_S = 0.5
PROBE_TIMEOUT_S = 2.0
# Failures before any answer came back: the request can go to another replica.
RETRYABLE = (aiohttp.ClientConnectionError, aiohttp.ServerDisconnectedError)
FORWARD_TIMEOUT = aiohttp.ClientTimeout(total=120, connect=2)
PROBE = aiohttp.ClientTimeout(total=PROBE_TIMEOUT_S)
COLD_START_S = 90.0  # how long a request waits for a deployment scaled to zero to wake
FORWARD_HEADERS = ("content-type", "inference-header-content-length")
KEY_HEADER = "x-fermion-replica-key"
# What a replica says about its answer that the caller gets too.
ANSWER_HEADERS = (
    "inference-header-content-length",
    "fermion-batch-size",
    "fermion-batch-wait-ms",
)


@dataclass(frozen=True)
class Answer:
    status: int
    content: bytes
    content_type: str | None
    headers: dict[str, str]

    def response(self) -> Response:
        """The replica's answer as the caller gets it."""
        return Response(
            self.content,
            status_code=self.status,
            media_type=self.content_type,
            headers=self.headers,
        )


@dataclass(frozen=True)
class Outgoing:
    """A request on its way to a replica."""

    method: str
    path: str
    body: bytes
    headers: Mapping[str, str]
    query: str


class NoReadyReplica(ServerUnavailable):
    """Not one ready replica answered (503, as any ServerUnavailable)."""


@dataclass(frozen=True)
class Target:
    replica_id: int
    deployment: str
    endpoint: str
    key: str | None  # the replica answers requests that carry it only

    @property
    def headers(self) -> dict[str, str]:
        return {KEY_HEADER: self.key} if self.key else {}


class Gateway:
    def __init__(self, context: ServerContext, meter: LoadMeter | None = None) -> None:
        self.context = context
        self.access = EndpointAccess(context)
        self.meter = meter or LoadMeter()  # what the autoscaler reads
        self._targets: list[Target] = []  # every replica that has an address now
        self._ready: set[int] = set()  # replica ids whose /readyz said yes
        self._turn: dict[str, itertools.count] = {}
        self._task: asyncio.Task | None = None
        self.http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=512, limit_per_host=128, keepalive_timeout=30)
        self.http = aiohttp.ClientSession(
            connector=connector, timeout=FORWARD_TIMEOUT, auto_decompress=False
        )
        self._task = asyncio.create_task(self._probe_forever())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.http is not None:
            await self.http.close()

    # -- readiness ------------------------------------------------------------------
    def _load_targets(self) -> list[Target]:
        with self.context.metadata.session() as session:
            return [Target(*row) for row in deployments.serving_replicas(session)]

    def _save_ready(self, changed: dict[int, bool]) -> None:
        with self.context.metadata.session() as session:
            deployments.record_readiness(session, changed)

    async def _probe(self, target: Target) -> bool:
        try:
            probe = f"{target.endpoint}/readyz"
            async with self.http.get(probe, timeout=PROBE, headers=target.headers) as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def refresh(self) -> None:
        await self.access.reload()
        targets = await asyncio.to_thread(self._load_targets)
        results = await asyncio.gather(*(self._probe(t) for t in targets))
        ready = {t.replica_id for t, ok in zip(targets, results, strict=True) if ok}
        self._targets = targets
        before = self._ready
        self._ready = ready
        known = {t.replica_id for t in targets}
        changed = {i: i in ready for i in known if (i in ready) != (i in before)}
        if changed:
            await asyncio.to_thread(self._save_ready, changed)

    async def _probe_forever(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:  # keep probing whatever one pass ran into
                log.exception("probing replicas failed")
            await asyncio.sleep(PROBE_S)

    # -- metrics --------------------------------------------------------------------
    async def metrics(self, deployment: str) -> dict[str, Any]:
        """The Prometheus counters of the deployment's replicas, summed: requests, errors,
        the latency histogram (cumulative buckets), batches and queue depth. Rates and
        quantiles come from the difference between two of these."""
        targets = [t for t in self._targets if t.deployment == deployment]
        texts = await asyncio.gather(*(self._scrape(t) for t in targets))
        total: dict[str, Any] = {
            "time": time.time(),
            "replicas": 0,
            "requests": 0.0,
            "errors": 0.0,
            "queue_depth": 0.0,
            "batches": 0.0,
            "batched_inputs": 0.0,
        }
        buckets: dict[float, float] = {}
        latency_count = latency_sum = 0.0
        for text in texts:
            if text is None:
                continue
            total["replicas"] += 1
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    name, value = sample.name, sample.value
                    if name == "fermion_requests_total":
                        total["requests"] += value
                    elif name == "fermion_request_errors_total":
                        total["errors"] += value
                    elif name == "fermion_queue_depth":
                        total["queue_depth"] += value
                    elif name == "fermion_batch_size_count":
                        total["batches"] += value
                    elif name == "fermion_batch_size_sum":
                        total["batched_inputs"] += value
                    elif name == "fermion_request_latency_seconds_bucket":
                        le = float(sample.labels["le"])
                        buckets[le] = buckets.get(le, 0.0) + value
                    elif name == "fermion_request_latency_seconds_count":
                        latency_count += value
                    elif name == "fermion_request_latency_seconds_sum":
                        latency_sum += value
        total["latency"] = {
            "buckets": sorted(buckets.items()),
            "count": latency_count,
            "sum": latency_sum,
        }
        return total

    async def _scrape(self, target: Target) -> str | None:
        try:
            scrape = f"{target.endpoint}/metrics"
            async with self.http.get(scrape, timeout=PROBE, headers=target.headers) as response:
                return await response.text() if response.status == 200 else None
        except (aiohttp.ClientError, TimeoutError):
            return None

    # -- traffic --------------------------------------------------------------------
    def has_ready(self, deployment: str) -> bool:
        return any(
            t.deployment == deployment and t.replica_id in self._ready for t in self._targets
        )

    def ready_targets(self, deployment: str) -> list[Target]:
        """Its ready replicas, starting with the next one's turn."""
        targets = [
            t for t in self._targets if t.deployment == deployment and t.replica_id in self._ready
        ]
        if not targets:
            return []
        start = next(self._turn.setdefault(deployment, itertools.count())) % len(targets)
        return targets[start:] + targets[:start]

    async def forward(
        self,
        deployment: str,
        method: str,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        query: str,
    ) -> Answer:
        """Send the request to a ready replica; on a connection failure, to the next.
        Counted in flight meanwhile; one for a deployment scaled to zero waits for its
        first replica."""
        with self.meter.request(deployment):
            if deployment in self.meter.wakes and not self.has_ready(deployment):
                await self._wait_for_replica(deployment)
            out = Outgoing(method, path, body, headers, query)
            try:
                return await self._send(deployment, out)
            except NoReadyReplica:
                if deployment not in self.meter.wakes:
                    raise
            # Its last replica stopped as the request came: it waits for the next one.
            await self._wait_for_replica(deployment)
            return await self._send(deployment, out)

    async def _send(self, deployment: str, out: Outgoing) -> Answer:
        sent = {k: v for k, v in out.headers.items() if k.lower() in FORWARD_HEADERS}  # no key
        last_error: Exception | None = None
        for target in self.ready_targets(deployment):
            url = f"{target.endpoint}/{out.path}" + (f"?{out.query}" if out.query else "")
            try:
                signed = sent | target.headers
                async with self.http.request(
                    out.method, url, data=out.body, headers=signed
                ) as response:
                    content = await response.read()
                    kept = {h: response.headers[h] for h in ANSWER_HEADERS if h in response.headers}
                    return Answer(
                        response.status, content, response.headers.get("content-type"), kept
                    )
            except TimeoutError:
                raise ServerUnavailable(
                    f"a replica of {deployment!r} did not answer within"
                    f" {FORWARD_TIMEOUT.total:.0f} s; see `fermion deployment logs {deployment}`"
                ) from None
            except RETRYABLE as exc:
                log.info(
                    "replica %s of %s unreachable (%s); trying the next",
                    target.endpoint,
                    deployment,
                    type(exc).__name__,
                )
                self._ready.discard(target.replica_id)
                last_error = exc
        detail = f" (last error: {type(last_error).__name__})" if last_error else ""
        raise NoReadyReplica(
            f"deployment {deployment!r} has no ready replica right now{detail};"
            f" `fermion deployment show {deployment}` shows its replicas"
        )

    async def _wait_for_replica(self, deployment: str) -> None:
        deadline = time.monotonic() + COLD_START_S
        while not self.has_ready(deployment) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
