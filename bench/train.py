"""`fermion train` throughput against a plain PyTorch loop, in the same run.

    python bench/train.py [--model resnet18] [--image-size 32] [--epochs 2]

1. samples/s of `fermion train` (1 process, fp32) vs. a hand-written loop in this
   process: same model, data pipeline, batch size (32), threads (2), precision, AdamW.
2. `fermion train` in bf16 vs fp32.
3. `fermion train --nproc 2` (1 thread each) vs `--nproc 1` (2 threads).
Throughput is that of the last epoch (the first pays for start-up).
"""

from __future__ import annotations

import argparse
import shutil
import socket
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

import fermion as fm
from fermion.client import launcher
from fermion.datasets.samples import write_digits_folder
from fermion.settings import Settings
from fermion.training.config import TrainConfig
from fermion.training.data import build_data, loader
from fermion.training.loop import build_model
from fermion.training.optim import make_optimizer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fermion_rate(client: fm.Client, args, **options) -> tuple[float, TrainConfig]:
    started = client.train(
        "digits",
        model=args.model,
        image_size=args.image_size,
        epochs=args.epochs,
        batch_size=32,
        memory="6Gi",
        **options,
    )
    job = client.wait_job(started.job.id, timeout=1200)
    if job.status.value != "succeeded":
        raise RuntimeError(client.job_logs(job.id)[-3000:])
    rates = client.job_metrics(job.id, name="samples_per_s").series["samples_per_s"]
    return rates[-1].value, TrainConfig.from_dict(started.config)


def plain_rate(client: fm.Client, config: TrainConfig) -> float:
    """The same work written by hand: no Accelerate, no metrics, no checkpoints."""
    torch.set_num_threads(2)
    torch.manual_seed(0)
    data = build_data(config, client)
    model = build_model(config, data, Path("."))
    optimizer = make_optimizer(model, "adamw", config.lr, config.weight_decay)
    train_loader = loader(data.train, config, data, shuffle=True)
    loss_fn = nn.CrossEntropyLoss()
    rate = 0.0
    for _ in range(config.epochs):
        started, seen = time.perf_counter(), 0
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            seen += len(y)
        rate = seen / (time.perf_counter() - started)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fermion-bench-train-"))
    settings = Settings(home=work / "home", port=free_port())
    launcher.start(settings)
    try:
        with fm.Client(settings=settings) as client:
            client.create_dataset(
                "digits", "image-classification", write_digits_folder(work / "digits")
            )
            fp32, config = fermion_rate(client, args, precision="fp32", cpu=2)
            plain = plain_rate(client, config)
            bf16, _ = fermion_rate(client, args, precision="bf16", cpu=2)
            two, _ = fermion_rate(client, args, precision="fp32", nproc=2, cpu=2)
    finally:
        launcher.stop(settings)
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\n{args.model} on digits at {args.image_size}x{args.image_size}, batch 32,"
        f" 2 CPU threads, last of {args.epochs} epochs (samples/s)"
    )
    print(f"  fermion train fp32, 1 process : {fp32:8.1f}")
    print(f"  plain PyTorch loop fp32       : {plain:8.1f}   ratio {fp32 / plain:.2f}x")
    print(f"  fermion train bf16, 1 process : {bf16:8.1f}   bf16/fp32 {bf16 / fp32:.2f}x")
    print(f"  fermion train fp32, 2 process : {two:8.1f}   nproc 2/1 {two / fp32:.2f}x")


if __name__ == "__main__":
    main()
