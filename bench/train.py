"""`fermion train` throughput against the same loop written by hand, in the same run.

    python -m bench.train [--models small-cnn,resnet18] [--image-size 32] [--epochs 2]
                          [--rounds 3] [--bf16]

For each model, at 1 process (2 threads) and at 2 processes (1 thread each, DDP over
gloo): samples/s of `fermion train` vs. a plain PyTorch loop with the same data
pipeline, model, batch size (32 per process), threads, precision (fp32) and AdamW; the
2-process loop runs under torchrun (bench/plain_ddp.py). Throughput is that of the last
epoch (the first pays for start-up). The two take turns, `--rounds` times each, and the
ratio is of their medians: on a small shared machine one epoch's throughput varies by
10% or more from one run to the next, which a single pair of runs would report as
overhead. `--bf16` adds `fermion train` in bf16 against fp32 (slow where the CPU has no
native bf16).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

import fermion as fm
from bench.hand_loop import samples_per_second
from bench.results import record
from fermion.client import launcher
from fermion.datasets.samples import write_digits_folder
from fermion.settings import Settings
from fermion.training.config import TrainConfig
from fermion.training.data import build_data, loader
from fermion.training.loop import build_model
from fermion.training.optim import make_optimizer

CPUS = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fermion_rate(client: fm.Client, model: str, args, **options) -> tuple[float, TrainConfig]:
    started = client.train(
        "digits",
        model=model,
        image_size=args.image_size,
        epochs=args.epochs,
        batch_size=32,
        memory="6Gi",
        cpu=CPUS,
        **options,
    )
    job = client.wait_job(started.job.id, timeout=1800)
    if job.status.value != "succeeded":
        raise RuntimeError(client.job_logs(job.id)[-3000:])
    rates = client.job_metrics(job.id, name="samples_per_s").series["samples_per_s"]
    return rates[-1].value, TrainConfig.from_dict(started.config)


def plain_rate(client: fm.Client, config: TrainConfig) -> float:
    """The same work written by hand in this process: no Accelerate, no metrics, no
    checkpoints."""
    torch.set_num_threads(CPUS)
    torch.manual_seed(config.seed)
    data = build_data(config, client)
    model = build_model(config, data, Path("."))
    optimizer = make_optimizer(model, "adamw", config.lr, config.weight_decay)
    train_loader = loader(data.train, config, data, shuffle=True)
    return samples_per_second(model, optimizer, train_loader, config.epochs)


def plain_ddp_rate(settings: Settings, config: TrainConfig, work: Path, nproc: int) -> float:
    config_path, result_path = work / "plain-config.json", work / "plain-result.json"
    config_path.write_text(json.dumps(config.to_dict()))
    env = {
        **os.environ,
        "FERMION_HOME": str(settings.home),
        "FERMION_PORT": str(settings.port),
        "OMP_NUM_THREADS": str(CPUS // nproc),
    }
    subprocess.run(  # from the repository's root, where `bench` is a package
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={nproc}",
            "-m",
            "bench.plain_ddp",
            str(config_path),
            str(result_path),
        ],
        env=env,
        cwd=Path(__file__).parents[1],
        check=True,
        capture_output=True,
    )
    return json.loads(result_path.read_text())["samples_per_s"]


def in_turns(
    client: fm.Client, settings: Settings, work: Path, model: str, nproc: int, args
) -> tuple[float, float]:
    """Median samples/s of `fermion train` and of the loop by hand, run in turns; which
    goes first alternates, so a drift within a turn favours neither. The loop by hand
    takes the configuration the server resolved for the first job."""

    def by_hand(config: TrainConfig) -> float:
        if nproc == 1:
            return plain_rate(client, config)
        return plain_ddp_rate(settings, config, work, nproc)

    ours: list[float] = []
    plain: list[float] = []
    config = None
    for turn in range(args.rounds):
        hand_first = config is not None and turn % 2 == 1
        if hand_first:
            plain.append(by_hand(config))
        rate, config = fermion_rate(client, model, args, precision="fp32", nproc=nproc)
        ours.append(rate)
        if not hand_first:
            plain.append(by_hand(config))
        print(f"{model}, {nproc} process(es): fermion {rate:.1f}, by hand {plain[-1]:.1f}")
    return statistics.median(ours), statistics.median(plain)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="small-cnn,resnet18")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bf16", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fermion-bench-train-"))
    settings = Settings(home=work / "home", port=free_port())
    launcher.start(settings)
    rows = []
    try:
        with fm.Client(settings=settings) as client:
            client.create_dataset(
                "digits", "image-classification", write_digits_folder(work / "digits")
            )
            for model in args.models.split(","):
                medians = {n: in_turns(client, settings, work, model, n, args) for n in (1, 2)}
                rows += [(model, n, ours, plain) for n, (ours, plain) in medians.items()]
                if args.bf16:
                    bf16, _ = fermion_rate(client, model, args, precision="bf16")
                    print(f"{model}: fermion train bf16/fp32 {bf16 / medians[1][0]:.2f}x")
    finally:
        launcher.stop(settings)
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\ndigits at {args.image_size}x{args.image_size}, batch 32 per process, {CPUS} CPU"
        f" threads in all, fp32, last of {args.epochs} epochs (samples/s)"
    )
    print(f"{'model':<12}{'processes':>10}{'fermion':>10}{'by hand':>10}{'ratio':>8}  (medians)")
    for model, nproc, ours, plain in rows:
        print(f"{model:<12}{nproc:>10}{ours:>10.1f}{plain:>10.1f}{ours / plain:>8.2f}")
        record(
            f"train_{model}_{nproc}p",
            f"`fermion train` samples/s / the loop by hand, {model}, {nproc} process(es),"
            f" medians of {args.rounds} turns each",
            ours / plain,
            0.98,
            ours=ours,
            baseline=plain,
            unit="samples/s",
        )


if __name__ == "__main__":
    main()
