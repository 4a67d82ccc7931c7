"""Fermion on a Ray cluster of two nodes, against baselines measured in the same run.

    python -m bench.cluster [--repeat 3] [--epochs 2]

- Job start-up: `fermion job run --follow` to the script's first line, with a server
  whose jobs run on the Ray cluster, against one that runs them on this machine (the
  local executor). Median of --repeat, interleaved.
- A node of its own: job start-up and 1-node training samples/s (median of 2 runs) on a
  node that sees the server's home empty (its job folder shipped and pulled back through
  Ray), against the same on a node that mounts the home.
- Training across nodes: samples/s of `fermion train --nodes 2 --nproc 1` against Ray
  Train's own `TorchTrainer` with 2 workers spread over the two nodes, both running the
  same model, data pipeline (fermion.training.data), batch (32 per process), AdamW and
  one thread per process, fp32; the TorchTrainer runs the loop by hand of
  bench/train.py. Throughput is that of the last epoch.

Ray listens beyond loopback, so this runs itself again inside a network namespace of
its own where only loopback is up (`unshare --user --map-root-user --net`, as the tests
do), with two `ray start` nodes of one CPU each, ended by their pids."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.jobs import seconds_to_first_line
from bench.results import record

ROOT = Path(__file__).parents[1]
INSIDE = "FERMION_BENCH_NAMESPACE"
FIRST_LINE = 'print("first line", flush=True)\n'


def job_startup(servers: dict[str, Any], code: Path, repeat: int) -> dict[str, list[float]]:
    fermion = [str(Path(sys.executable).with_name("fermion")), "job", "run", "--cpu=1",
               "--memory=1Gi", "--follow", "--", "python", "script.py"]  # fmt: skip
    envs = {name: {**os.environ, **server.env} for name, server in servers.items()}
    for env in envs.values():  # warm-up: file caches, the first job folder, Ray workers
        seconds_to_first_line(fermion, code, env)
    times: dict[str, list[float]] = {name: [] for name in servers}
    for _ in range(repeat):  # interleaved, so drift affects both alike
        for name, env in envs.items():
            times[name].append(seconds_to_first_line(fermion, code, env))
    return times


def fermion_rate(client, epochs: int, nodes: int = 2) -> tuple[float, dict]:
    started = client.train(
        "digits", model="small-cnn", image_size=32, epochs=epochs, batch_size=32,
        precision="fp32", nodes=nodes, nproc=1, cpu=1, memory="3Gi",
    )  # fmt: skip
    job = client.wait_job(started.job.id, timeout=1800)
    if job.status.value != "succeeded":
        raise RuntimeError(client.job_logs(job.id)[-3000:])
    rates = client.job_metrics(job.id, name="samples_per_s").series["samples_per_s"]
    return rates[-1].value, started.config


def ray_train_loop(payload: dict) -> None:
    """One Ray Train worker: bench/train.py's loop by hand, under Ray's DDP."""
    import ray.train
    import ray.train.torch
    import torch
    from torch.utils.data import DataLoader

    from bench.hand_loop import samples_per_second
    from fermion.client import Client
    from fermion.settings import Settings
    from fermion.training.config import TrainConfig
    from fermion.training.data import build_data
    from fermion.training.loop import build_model
    from fermion.training.optim import make_optimizer

    config = TrainConfig.from_dict(payload["config"])
    torch.set_num_threads(1)
    torch.manual_seed(config.seed)
    settings = Settings(home=Path(payload["home"]), port=payload["port"])
    with Client(settings=settings, autostart=False) as client:
        data = build_data(config, client)
    model = ray.train.torch.prepare_model(build_model(config, data, Path(".")))
    optimizer = make_optimizer(model, "adamw", config.lr, config.weight_decay)
    batches = DataLoader(data.train, batch_size=config.batch_size, shuffle=True,
                         num_workers=2, collate_fn=data.collate)  # fmt: skip
    batches = ray.train.torch.prepare_data_loader(batches)  # a DistributedSampler
    world = ray.train.get_context().get_world_size()
    rate = samples_per_second(model, optimizer, batches, config.epochs, world_size=world)
    ray.train.report({"samples_per_s": rate})
    if ray.train.get_context().get_world_rank() == 0:  # Ray Train 2 keeps no plain metrics
        Path(payload["result"]).write_text(json.dumps(rate))


def ray_train_rate(server, config: dict, work: Path, address: str) -> float:
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    ray.init(address=address, log_to_driver=False, logging_level="ERROR")
    try:
        trainer = TorchTrainer(
            ray_train_loop,
            train_loop_config={
                "config": config,
                "home": str(server.home),
                "port": server.port,
                "result": str(work / "ray-train.json"),
            },  # fmt: skip
            scaling_config=ScalingConfig(
                num_workers=2, resources_per_worker={"CPU": 1}, placement_strategy="STRICT_SPREAD"
            ),
            run_config=RunConfig(storage_path=str(work / "ray-results"), name="bench"),
        )
        trainer.fit()
        return json.loads((work / "ray-train.json").read_text())
    finally:
        ray.shutdown()


def measure(work: Path, args: argparse.Namespace) -> dict:
    from tests.conftest import start_server, stop_server
    from tests.scheduler.ray_cluster import RAY_PORT, Cluster

    from fermion.datasets.samples import write_digits_folder

    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    os.environ["RAY_AUTH_MODE"] = "disabled"  # as tests/scheduler/ray_cluster.py says why
    cluster = Cluster(work)
    servers: dict[str, Any] = {}
    try:
        cluster.start("head")
        cluster.start("worker")
        address = f"127.0.0.1:{RAY_PORT}"
        servers["ray"] = start_server(
            work / "ray-home", FERMION_EXECUTOR="ray", FERMION_RAY_ADDRESS=address
        )
        servers["local"] = start_server(work / "local-home")
        code = work / "code"
        code.mkdir()
        (code / "script.py").write_text(FIRST_LINE)
        found: dict[str, Any] = {"startup": job_startup(servers, code, args.repeat)}
        with servers["ray"].client() as client:
            client.create_dataset("digits", "image-classification", write_digits_folder(work / "d"))
            found["fermion"], config = fermion_rate(client, args.epochs)
        found["ray_train"] = ray_train_rate(servers["ray"], config, work, address)
        found["own"] = node_of_its_own(cluster, servers["ray"], code, args)
        return found
    finally:
        for server in servers.values():
            stop_server(server)
        cluster.stop()


def node_of_its_own(cluster, server, code: Path, args: argparse.Namespace) -> dict:
    """1-node training and job start-up on a node that mounts the server's home, then on
    one that sees it empty (its job folder shipped and pulled back): the worker node is
    replaced by such a node, and a job holds the head's CPU meanwhile."""
    found: dict[str, Any] = {"startup_shared": job_startup({"s": server}, code, args.repeat)["s"]}
    with server.client() as client:
        found["train_shared"] = [fermion_rate(client, args.epochs, nodes=1)[0] for _ in "ab"]
        cluster.kill("worker")
        while client.capacity().total["cpu"] > 1:  # the lost node is counted out
            time.sleep(0.5)
        holder = client.submit_job(
            ["python", "-c", "import time; time.sleep(3600)"], cpu=1, memory="1Gi", workdir=None
        )
        while client.get_job(holder.id).status.value != "running":
            time.sleep(0.5)
        cluster.start("island", hide=server.home)
        found["startup_own"] = job_startup({"o": server}, code, args.repeat)["o"]
        found["train_own"] = [fermion_rate(client, args.epochs, nodes=1)[0] for _ in "ab"]
        client.cancel_job(holder.id)
    return found


def _rounded(times: list[float]) -> list[float]:
    return [round(t, 2) for t in times]


def report(found: dict, args: argparse.Namespace) -> None:
    ray_s, local_s = (statistics.median(found["startup"][k]) for k in ("ray", "local"))
    print(f"\njob start-up to the script's first line, 1 process, median of {args.repeat}")
    print(
        f"  fermion job run, Ray executor   : {ray_s:6.2f} s  {_rounded(found['startup']['ray'])}"
    )
    print(
        f"  fermion job run, local executor : {local_s:6.2f} s  {_rounded(found['startup']['local'])}"
    )
    print(f"  ratio {ray_s / local_s:.2f}x, difference {ray_s - local_s:+.2f} s")
    record(
        "ray_job_startup",
        "`fermion job run` to the first line: Ray executor / local executor (s)",
        ray_s / local_s,
        2.0,
        at_most=True,
        ours=ray_s,
        baseline=local_s,
        unit="s",
    )
    ours, theirs = found["fermion"], found["ray_train"]
    print(f"\ndigits at 32x32, small-cnn, 2 nodes x 1 process, batch 32 each, fp32, last of"
          f" {args.epochs} epochs (samples/s)")  # fmt: skip
    print(f"  fermion train --nodes 2 : {ours:8.1f}")
    print(f"  Ray Train TorchTrainer  : {theirs:8.1f}")
    print(f"  ratio {ours / theirs:.2f}x")
    record(
        "ray_train_2_nodes",
        "`fermion train --nodes 2 --nproc 1` samples/s / Ray Train TorchTrainer, 2 workers",
        ours / theirs,
        1.0,
        ours=ours,
        baseline=theirs,
        unit="samples/s",
    )


def report_node_of_its_own(own: dict, args: argparse.Namespace) -> None:
    shared_s, own_s = (statistics.median(own[k]) for k in ("startup_shared", "startup_own"))
    print("\na node that sees the server's home empty (job folder shipped) / one that mounts it")
    print(f"  job start-up, median of {args.repeat}: {own_s:6.2f} s / {shared_s:6.2f} s")
    own_rate, shared_rate = (statistics.median(own[k]) for k in ("train_own", "train_shared"))
    print(
        f"  fermion train, 1 node, median of 2: {own_rate:8.1f} {_rounded(own['train_own'])}"
        f" / {shared_rate:8.1f} {_rounded(own['train_shared'])} samples/s"
    )
    record(
        "ray_own_node_startup",
        "`fermion job run` to the first line: a node of its own / one mounting the home (s)",
        own_s / shared_s,
        1.25,
        at_most=True,
        ours=own_s,
        baseline=shared_s,
        unit="s",
    )
    record(
        "ray_own_node_train",
        "`fermion train` samples/s: a node of its own / one mounting the home",
        own_rate / shared_rate,
        0.95,
        ours=own_rate,
        baseline=shared_rate,
        unit="samples/s",
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    if os.environ.get(INSIDE) != "1":  # run again in a network namespace of our own
        work = Path(tempfile.mkdtemp(prefix="fermion-bench-cluster-"))
        try:
            done = subprocess.run(
                ["unshare", "--user", "--map-root-user", "--net", "--fork", sys.executable,
                 "-m", "bench.cluster", *sys.argv[1:], f"--work={work}"],
                # Ray's workers import this module (the TorchTrainer's loop) from the root.
                env={**os.environ, INSIDE: "1", "PYTHONPATH": os.pathsep.join(
                    filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))},
                cwd=ROOT,
            )  # fmt: skip
            if done.returncode == 0:
                found = json.loads((work / "found.json").read_text())
                report(found, args)
                report_node_of_its_own(found["own"], args)
            return done.returncode
        finally:
            shutil.rmtree(work, ignore_errors=True)
    found = measure(args.work, args)
    (args.work / "found.json").write_text(json.dumps(found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
