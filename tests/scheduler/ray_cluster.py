"""Run inside a network namespace of its own (test_ray_executor.py makes it; only
loopback is up): a Ray cluster of two nodes, each a `ray start --block` process of its
own with one CPU, and a Fermion server whose jobs run on it. Nodes are killed (SIGKILL
to a raylet) and others join as it goes. Prints what happened as one JSON line. Every
process it started is ended by its pid, never by `ray stop`."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from fermion.client import launcher
from fermion.scheduler.ray_executor import RayExecutor
from tests.conftest import RunningServer, start_server, stop_server

RAY_PORT = 6390
NODE = ["--node-ip-address=127.0.0.1", "--memory=4000000000",
        "--object-store-memory=100000000", "--block"]  # fmt: skip
ALL_REDUCE = (
    "import os, torch, torch.distributed as dist; dist.init_process_group('gloo');"
    " t = torch.tensor([dist.get_rank() + 1.0]); dist.all_reduce(t);"
    " print('rank', os.environ['RANK'], os.environ['WORLD_SIZE'], os.environ['LOCAL_RANK'],"
    " os.environ['FERMION_NODE_ID'], int(t.item()), os.environ['GLOO_SOCKET_IFNAME'],"
    " flush=True); dist.destroy_process_group()"
)
RAY_SERVER = {
    "FERMION_EXECUTOR": "ray",
    "FERMION_RAY_ADDRESS": f"127.0.0.1:{RAY_PORT}",
    "FERMION_JOB_GRACE_S": "2",
}
SAY_NODE = (
    "import os, time; print('node', os.environ['FERMION_NODE_ID'], flush=True); time.sleep({})"
)


class Cluster:
    """The Ray nodes started here, by name: `ray start --block` processes, each ended by
    its own pid (and its process tree), never with `ray stop`."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.nodes: dict[str, subprocess.Popen] = {}

    def start(self, name: str, *args: str, cpus: int = 1, hide: Path | None = None) -> str:
        """Start a node; its id once it is alive. The first is the head. `hide`: a folder
        the node sees empty (a mount namespace of its own): as on another machine."""
        before = {n["NodeID"] for n in alive_nodes()} if self.nodes else set()
        if not self.nodes:
            args = ("--head", f"--port={RAY_PORT}", "--include-dashboard=false",
                    f"--temp-dir={self.work / 'ray'}", "--disable-usage-stats", *args)  # fmt: skip
        else:
            args = (f"--address=127.0.0.1:{RAY_PORT}", *args)
        ray = str(Path(sys.executable).parent / "ray")
        log = open(self.work / f"{name}.log", "ab")  # noqa: SIM115 - the node's for its life
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        command = [ray, "start", *args, f"--num-cpus={cpus}", *NODE]
        if hide is not None:  # unshare execs sh, which execs ray: one pid, the node's
            mount = 'mount -t tmpfs tmpfs "$0" && exec "$@"'
            command = ["unshare", "--mount", "sh", "-c", mount, str(hide), *command]
        self.nodes[name] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):  # the head's GCS may not answer yet
                new = {n["NodeID"] for n in alive_nodes()} - before
                if new:
                    return new.pop()
            time.sleep(0.5)
        raise AssertionError(f"Ray node {name} did not join in 90s")

    def kill(self, name: str) -> None:
        """SIGKILL to the node's raylet: as if its machine were gone."""
        node = self.nodes[name]
        raylet = next(
            p for p in psutil.Process(node.pid).children(recursive=True) if p.name() == "raylet"
        )
        raylet.send_signal(signal.SIGKILL)

    def stop(self) -> None:
        for node in reversed(list(self.nodes.values())):  # the head last
            tree = psutil.Process(node.pid).children(recursive=True) if node.poll() is None else []
            node.terminate()  # `ray start --block` ends its node's processes
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.wait(timeout=30)
            for process in tree:
                with contextlib.suppress(psutil.Error):
                    process.kill()


def alive_nodes() -> list[dict]:
    import ray

    ray.init(address=f"127.0.0.1:{RAY_PORT}", log_to_driver=False, logging_level="ERROR")
    try:
        return [n for n in ray.nodes() if n["Alive"]]
    finally:
        ray.shutdown()


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.3)
    raise AssertionError(f"{what} did not happen in {timeout}s")


def node_of(client, job_id: int, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in client.job_logs(job_id).splitlines():
            if line.startswith("node "):
                return line.split()[1]
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} never said where it runs: {client.job_logs(job_id)}")


def replica_nodes(server: RunningServer, replicas: list) -> list[str]:
    """The Ray node each replica's actor runs on."""
    import ray

    from fermion.scheduler.ray_executor import NAMESPACE, RayExecutor

    prefix = RayExecutor.prefix_for(server.home)
    ray.init(address=f"127.0.0.1:{RAY_PORT}", log_to_driver=False, logging_level="ERROR")
    try:
        named = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)]
        found = []
        for r in replicas:
            (name,) = [n for n in named if n.startswith(f"{prefix}-job-{r.job_id}-{r.attempt}-")]
            found.append(ray.get(ray.get_actor(name, NAMESPACE).node_id.remote(), timeout=30))
        return found
    finally:
        ray.shutdown()


def deployment_on_two_nodes(server: RunningServer, client) -> dict:
    """Two replicas of one CPU each: one a node, both answering through the gateway."""
    from tests.serving.folders import IRIS_COLUMNS, tabular_model

    client.import_model("ray-iris", tabular_model(server.home.parent / "iris-model"))
    client.deploy("ray-iris", name="ray-iris", replicas=2, cpu=1, memory="1Gi")
    ready = client.wait_deployment("ray-iris", timeout=240)
    record = dict.fromkeys(IRIS_COLUMNS, 1.0)
    answers = client.predict("ray-iris", record=[record] * 6)
    nodes = replica_nodes(server, ready.replica_details)
    replica_jobs = [r.job_id for r in ready.replica_details]
    client.delete_deployment("ray-iris")
    for job_id in replica_jobs:
        client.wait_job(job_id, timeout=60)
    return {
        "deployment": ready.status,
        "replica_nodes": nodes,
        "answers": [a["label"] for a in answers],
    }


def multi_node(client) -> dict:
    """`--nodes 2 --nproc 1`: a rank on each node, one process group across them."""
    job = client.submit_job(
        ["python", "-c", ALL_REDUCE], nodes=2, nproc=1, cpu=1, memory="1Gi", workdir=None
    )
    ended = client.wait_job(job.id, timeout=180)
    logs = client.job_logs(job.id)
    ranks = [line.partition("]: rank ")[2].split() for line in logs.splitlines()]
    return {
        "all_reduce": {
            "status": ended.status.value,
            "nodes": ended.nodes,
            "ranks": sorted(r for r in ranks if r),  # [RANK, WORLD_SIZE, LOCAL_RANK, node, sum]
            "log": logs[-3000:],
        }
    }


def accuracy_on_one_and_two_nodes(client, root: Path) -> dict:
    """The digits trained by two ranks on one node, then by one rank on each of two."""
    from tests.sources import digits_folder

    client.create_dataset("ray-digits", "image-classification", digits_folder(root / "digits"))
    runs = {}
    for key, shape in (("one_node", {"nproc": 2}), ("two_nodes", {"nodes": 2, "nproc": 1})):
        started = client.train(
            "ray-digits", name=f"digits-{key.replace('_', '-')}", epochs=4, cpu=1,
            memory="3Gi", **shape,
        )  # fmt: skip
        job = client.wait_job(started.job.id, timeout=300)
        logs = client.job_logs(job.id)
        runs[key] = {
            "status": job.status.value,
            "accuracy": client.get_model_version(started.config["name"]).metrics["test"]["accuracy"]
            if job.status.value == "succeeded"
            else None,
            "processes": "2 process(es)" in logs,
            "log": logs[-3000:],
        }
    return {"trained": runs}


def per_node_admission(client) -> dict:
    """The totals (2 CPUs) are not the nodes (1 each): 1.5 CPUs on a node is refused at
    once; 0.75 on each of 2 nodes, while a job holds half of one, waits without being
    launched, saying why, and runs when that job ends."""
    from fermion.errors import FermionError

    try:
        client.submit_job(["python", "-c", "pass"], cpu=1.5, memory="1Gi", workdir=None)
        refused = None
    except FermionError as exc:
        refused = {"status": exc.status, "message": exc.message}
    half = client.submit_job(
        ["python", "-c", SAY_NODE.format(10)], cpu=0.5, memory="1Gi", workdir=None
    )
    node_of(client, half.id)
    spread = client.submit_job(
        ["python", "-c", SAY_NODE.format(0)], nodes=2, nproc=1, cpu=0.75, memory="1Gi",
        workdir=None,
    )  # fmt: skip
    time.sleep(2)  # 8 passes of the scheduler (TICK_S): any would have launched it
    waiting = client.get_job(spread.id)
    ended = client.wait_job(spread.id, timeout=120)
    return {
        "per_node": {
            "refused": refused,
            "waiting": waiting.waiting_for,
            "attempt_while_waiting": waiting.attempt,
            "half_then": client.get_job(half.id).status.value,
            "spread": ended.status.value,
        }
    }


def scenario(server: RunningServer) -> dict:
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
        found |= per_node_admission(client)

        started = client.submit_job(
            ["python", "-c", SAY_NODE.format(300)], cpu=1, memory="1Gi", workdir=None
        )
        node_of(client, started.id)
        client.cancel_job(started.id)
        found["cancelled"] = client.wait_job(started.id, timeout=60).status.value

        hog = client.submit_job(
            ["python", "-c", "import time; x = b'1' * (900 * 2**20); time.sleep(60)"],
            cpu=1, memory="400Mi", workdir=None,
        )  # fmt: skip
        found["memory_kill"] = client.wait_job(hog.id, timeout=120).failure_reason

        found |= deployment_on_two_nodes(server, client)

        found |= multi_node(client)
        found |= accuracy_on_one_and_two_nodes(client, server.home.parent)
    return found


def restarted_server_finds_its_job(server: RunningServer) -> tuple[RunningServer, dict]:
    """The server stops while a job runs on a node, and starts again on its home: it
    finds the job's actor by name, and the job ends as it would have."""
    with server.client() as client:
        job = client.submit_job(
            ["python", "-c", SAY_NODE.format(15)], cpu=1, memory="1Gi", workdir=None
        )
        node_of(client, job.id)
    launcher.stop(server.settings)  # the server only: its jobs run on
    server = start_server(server.home, port=server.port, **RAY_SERVER)
    with server.client() as client:
        during = client.get_job(job.id).status.value
        ended = client.wait_job(job.id, timeout=120)
    return server, {"during": during, "status": ended.status.value, "attempt": ended.attempt}


def job_survives_node_loss(server: RunningServer, client, cluster: Cluster) -> dict:
    """A 2-node training job loses a node after its first checkpoint: its retry waits
    for a second node, saying so, and resumes from the checkpoint once one joins."""
    started = client.train(
        "ray-digits", name="digits-node-loss", nodes=2, nproc=1, cpu=1, memory="3Gi",
        epochs=8, max_retries=1,
    )  # fmt: skip
    job_id = started.job.id
    state = server.artifacts / "jobs" / str(job_id) / "checkpoints" / "last" / "trainer.json"

    def checkpointed() -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return json.loads(state.read_text())["epoch"] + 1  # epochs done
        return None

    done = wait_until(checkpointed, 240, "the first epoch's checkpoint")
    cluster.kill("worker")
    waiting = wait_until(
        lambda: (
            (job := client.get_job(job_id)).status.value == "queued"
            and "nodes" in (job.waiting_for or "")
            and job.waiting_for
        ),
        120,
        "the retry queued for want of a node",
    )
    joined = cluster.start("worker2")
    ended = client.wait_job(job_id, timeout=300)
    second = client.job_logs(job_id, attempt=2) if ended.attempt > 1 else ""
    resumed = [line for line in second.splitlines() if "resuming after epoch" in line]
    return {
        "node_loss": {
            "status": ended.status.value,
            "attempt": ended.attempt,
            "first_reason": ended.history[0].reason if ended.history else None,
            "reason": ended.failure_reason,
            "waiting_for": waiting,
            "epochs_done_before_kill": done,
            "resumed": resumed,
            "log": second[-3000:],
        },
        "worker2_node": joined,
    }


def replica_survives_node_loss(server: RunningServer, client, cluster: Cluster) -> dict:
    """Two replicas on two nodes; one node is killed: the deployment keeps answering,
    and the lost replica is started again on a node that joins."""
    from tests.serving.folders import IRIS_COLUMNS

    client.deploy("ray-iris", name="ray-iris-2", replicas=2, cpu=1, memory="1Gi")
    ready = client.wait_deployment("ray-iris-2", timeout=240)
    before = replica_nodes(server, ready.replica_details)
    record = dict.fromkeys(IRIS_COLUMNS, 1.0)
    cluster.kill("worker2")
    answered, failed = 0, []
    for _ in range(30):  # through the loss: the gateway tries the other replica
        try:
            client.predict("ray-iris-2", record=[record])
            answered += 1
        except Exception as exc:  # noqa: BLE001 - counted and reported
            failed.append(str(exc)[:300])
        time.sleep(0.2)
    joined = cluster.start("worker3")
    replaced = wait_until(
        lambda: (
            (d := client.get_deployment("ray-iris-2")).status == "ready"
            and any(r.attempt > 1 for r in d.replica_details)
            and d
        ),
        240,
        "the lost replica's replacement",
    )
    return {
        "replica_loss": {
            "nodes_before": before,
            "answered": answered,
            "failed": failed,
            "nodes_after": replica_nodes(server, replaced.replica_details),
            "answers_after": len(client.predict("ray-iris-2", record=[record] * 4)),
        },
        "worker3_node": joined,
    }


ISLAND = """
import os, sys, time
from pathlib import Path
import fermion as fm

rank, attempt = os.environ["RANK"], int(os.environ["FERMION_JOB_ATTEMPT"])
found = ",".join(sorted(p.name for p in fm.checkpoint_dir().iterdir())) or "-"
sees = (Path(sys.argv[1]) / "artifacts").is_dir()
print(f"rank {rank} attempt {attempt} sees-home {sees} found {found}", flush=True)
(fm.checkpoint_dir() / f"rank{rank}-attempt{attempt}").write_text(os.environ["FERMION_NODE_ID"])
time.sleep(10 if attempt == 1 else 0)  # meanwhile, the server has the line above
print(f"rank {rank} attempt {attempt} ends", flush=True)
sys.exit(3 if attempt == 1 and not sees else 0)  # its failure: the job's retry
"""


def job_on_a_node_of_its_own(server: RunningServer, client, cluster: Cluster) -> dict:
    """A node that sees the server's home empty, as another machine would: a 3-node job
    (one rank on it) gets its code and the checkpoints of its first attempt shipped, and
    its log lines, files and exit come back to the server while and after it runs."""
    for deployment in client.list_deployments().data:  # the nodes' CPUs for the job
        client.delete_deployment(deployment.name)
    wait_until(lambda: client.capacity().used["cpu"] == 0, 120, "the replicas' end")
    island = cluster.start("island", cpus=2, hide=server.home)
    code = server.home.parent / "island-code"
    code.mkdir()
    (code / "island.py").write_text(ISLAND)
    job = client.submit_job(
        ["python", "island.py", str(server.home)], nodes=3, nproc=1, cpu=1, memory="1Gi",
        max_retries=1, workdir=code,
    )  # fmt: skip
    streamed = wait_until(
        lambda: [
            line for line in client.job_logs(job.id).splitlines() if "sees-home False" in line
        ],
        120,
        "the line of the rank on the node of its own",
    )
    while_running = client.get_job(job.id).status.value
    ended = client.wait_job(job.id, timeout=180)
    checkpoints = server.artifacts / "jobs" / str(job.id) / "checkpoints"
    # Two CPUs: only this node has them. The dataset comes over HTTP, the checkpoints
    # and the model folder go back before the trainer registers it.
    started = client.train("ray-digits", name="digits-island", epochs=2, cpu=2, memory="3Gi")
    trained = client.wait_job(started.job.id, timeout=240)
    tensorboard = server.artifacts / "jobs" / str(trained.id) / "tensorboard"
    # A replica there too: its model comes over HTTP, and the gateway reaches it.
    from tests.serving.folders import IRIS_COLUMNS

    client.deploy("ray-iris", name="island-iris", replicas=1, cpu=2, memory="2Gi")
    served = client.wait_deployment("island-iris", timeout=240)
    answers = client.predict("island-iris", record=[dict.fromkeys(IRIS_COLUMNS, 1.0)] * 3)
    left = Path(tempfile.gettempdir(), "fermion-jobs")
    prefix = f"{RayExecutor.prefix_for(server.home)}-job-{job.id}-"
    return {
        "island": {
            "node": island,
            "streamed": streamed,
            "while_running": while_running,
            "status": ended.status.value,
            "attempt": ended.attempt,
            "logs": [client.job_logs(job.id, attempt=a) for a in (1, 2)],
            "checkpoints": {p.name: p.read_text() for p in checkpoints.iterdir()},
            "left_on_node": [p.name for p in left.glob(prefix + "*")] if left.exists() else [],
            "trained": trained.status.value,
            "trained_log": client.job_logs(trained.id)[-3000:],
            # Only a node of its own caches datasets there (others read the server's).
            "node_cache": sorted(p.name for p in left.glob("cache/*/*")),
            "model": client.get_model_version("digits-island").metrics["test"]["accuracy"]
            if trained.status.value == "succeeded"
            else None,
            "tensorboard": sorted(p.name for p in tensorboard.rglob("events.*")),
            "served": served.status,
            "answers": len(answers),
            "served_from": replica_nodes(server, served.replica_details),
        }
    }


def main(work: Path) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    # Every process here (nodes, the server, this one's clients) without Ray's token
    # auth: a ~/.ray/auth_token left by a user's own `ray.init()` would switch it on for
    # some of them only. The cluster is reachable on this namespace's loopback alone.
    os.environ["RAY_AUTH_MODE"] = "disabled"
    cluster = Cluster(work)
    server = None
    try:
        cluster.start("head")
        worker_node = cluster.start("worker")
        server = start_server(work / "home", **RAY_SERVER)
        found = scenario(server)
        server, found["restart"] = restarted_server_finds_its_job(server)
        found["worker_node"] = worker_node
        with server.client() as client:
            found |= job_survives_node_loss(server, client, cluster)
            found |= replica_survives_node_loss(server, client, cluster)
            found |= job_on_a_node_of_its_own(server, client, cluster)
        print(json.dumps(found), flush=True)
    finally:
        if server is not None:
            with contextlib.suppress(Exception):
                stop_server(server)
        cluster.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
