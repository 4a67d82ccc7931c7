"""Run inside a network namespace of its own (test_ray_executor.py makes it; only
loopback is up): a Ray cluster of two nodes, each a `ray start --block` process of its
own with one CPU, and a Fermion server whose jobs run on it. Prints what happened as
one JSON line. Every process it started is ended by its pid, never by `ray stop`."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from tests.conftest import RunningServer, start_server, stop_server

RAY_PORT = 6390
NODE = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--memory=3000000000",
        "--object-store-memory=100000000", "--block"]  # fmt: skip
SAY_NODE = (
    "import os, time; print('node', os.environ['FERMION_NODE_ID'], flush=True); time.sleep({})"
)


def start_node(work: Path, name: str, *args: str) -> subprocess.Popen:
    ray = str(Path(sys.executable).parent / "ray")
    log = open(work / f"{name}.log", "ab")  # noqa: SIM115 - the node's for its life
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    return subprocess.Popen(
        [ray, "start", *args, *NODE], stdout=log, stderr=subprocess.STDOUT, env=env
    )


def wait_for_nodes(count: int, timeout: float = 90) -> list[dict]:
    import ray

    ray.init(address=f"127.0.0.1:{RAY_PORT}", log_to_driver=False, logging_level="ERROR")
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alive = [n for n in ray.nodes() if n["Alive"]]
            if len(alive) >= count:
                return alive
            time.sleep(0.5)
    finally:
        ray.shutdown()
    raise AssertionError(f"the Ray cluster did not reach {count} nodes in {timeout}s")


def node_of(client, job_id: int, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in client.job_logs(job_id).splitlines():
            if line.startswith("node "):
                return line.split()[1]
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} never said where it runs: {client.job_logs(job_id)}")


def deployment_on_two_nodes(server: RunningServer, client) -> dict:
    """Two replicas of one CPU each: one a node, both answering through the gateway."""
    import ray

    from fermion.scheduler.ray_executor import NAMESPACE, RayExecutor
    from tests.serving.folders import IRIS_COLUMNS, tabular_model

    client.import_model("ray-iris", tabular_model(server.home.parent / "iris-model"))
    client.deploy("ray-iris", name="ray-iris", replicas=2, cpu=1, memory="1Gi")
    ready = client.wait_deployment("ray-iris", timeout=240)
    record = dict.fromkeys(IRIS_COLUMNS, 1.0)
    answers = client.predict("ray-iris", record=[record] * 6)
    ray.init(address=f"127.0.0.1:{RAY_PORT}", log_to_driver=False, logging_level="ERROR")
    try:
        prefix = RayExecutor.prefix_for(server.home)
        nodes = [
            ray.get(
                ray.get_actor(
                    f"{prefix}-job-{r.job_id}-{r.attempt}", namespace=NAMESPACE
                ).node.remote(),
                timeout=30,
            )
            for r in ready.replica_details
        ]
    finally:
        ray.shutdown()
    replica_jobs = [r.job_id for r in ready.replica_details]
    client.delete_deployment("ray-iris")
    for job_id in replica_jobs:
        client.wait_job(job_id, timeout=60)
    return {
        "deployment": ready.status,
        "replica_nodes": nodes,
        "answers": [a["label"] for a in answers],
    }


def scenario(server: RunningServer, worker: subprocess.Popen, worker_node: str) -> dict:
    found: dict = {}
    with server.client() as client:
        found["capacity"] = client.capacity().model_dump()
        two = [
            client.submit_job(
                ["python", "-c", SAY_NODE.format(4)], cpu=1, memory="1Gi", workdir=None
            )
            for _ in range(2)
        ]
        found["nodes_of_two"] = [node_of(client, j.id) for j in two]
        found["two"] = [client.wait_job(j.id, timeout=120).status.value for j in two]

        started = client.submit_job(
            ["python", "-c", SAY_NODE.format(300)], cpu=1, memory="1Gi", workdir=None
        )
        node_of(client, started.id)
        client.cancel_job(started.id)
        found["cancelled"] = client.wait_job(started.id, timeout=60).status.value

        found |= deployment_on_two_nodes(server, client)

        # Two jobs of 10 s, one a node, each with a retry; the worker node's raylet is
        # then killed, with whichever job is there.
        pair = [
            client.submit_job(
                ["python", "-c", SAY_NODE.format(10)], cpu=1, memory="1Gi", workdir=None,
                max_retries=1,
            )
            for _ in range(2)
        ]  # fmt: skip
        placed = {node_of(client, job.id): job for job in pair}
        on_worker = placed.pop(worker_node)
        (other,) = placed.values()
        raylet = next(
            p for p in psutil.Process(worker.pid).children(recursive=True) if p.name() == "raylet"
        )
        raylet.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 90
        while client.capacity().total["cpu"] > 1 and time.monotonic() < deadline:
            time.sleep(0.5)
        found["capacity_after_loss"] = client.capacity().total
        ended = client.wait_job(on_worker.id, timeout=240)
        found["lost_job"] = ended.model_dump(mode="json", include={"status", "attempt", "history"})
        found["lost_job_node_after"] = node_of(client, on_worker.id) if ended.attempt > 1 else None
        other = client.wait_job(other.id, timeout=120)
        found["other_job"] = other.model_dump(mode="json", include={"status", "attempt"})
    return found


def main(work: Path) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    head = start_node(work, "head", "--head", f"--port={RAY_PORT}", "--include-dashboard=false",
                      f"--temp-dir={work / 'ray'}", "--disable-usage-stats")  # fmt: skip
    worker = None
    server = None
    try:
        wait_for_nodes(1)
        worker = start_node(work, "worker", f"--address=127.0.0.1:{RAY_PORT}")
        nodes = wait_for_nodes(2)
        worker_node = next(
            n["NodeID"] for n in nodes if "node:__internal_head__" not in n["Resources"]
        )
        server = start_server(
            work / "home", FERMION_EXECUTOR="ray", FERMION_RAY_ADDRESS=f"127.0.0.1:{RAY_PORT}",
            FERMION_JOB_GRACE_S="2",
        )  # fmt: skip
        found = scenario(server, worker, worker_node)
        found["worker_node"] = worker_node
        print(json.dumps(found), flush=True)
    finally:
        if server is not None:
            with contextlib.suppress(Exception):
                stop_server(server)
        for node in (worker, head):
            if node is not None:
                tree = (
                    psutil.Process(node.pid).children(recursive=True) if node.poll() is None else []
                )
                node.terminate()  # `ray start --block` ends its node's processes
                with contextlib.suppress(subprocess.TimeoutExpired):
                    node.wait(timeout=30)
                for process in tree:
                    with contextlib.suppress(psutil.Error):
                        process.kill()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
