"""Dataset ingest and loading, against plain torchvision in the same run.

    python -m bench.ingest [--images 20000] [--size 32] [--memory-sizes 5000,50000]
                           [--rows 1000000]

1. images/s of `fermion dataset create` (the real CLI against a real server, wall
   clock) vs. `torchvision.datasets.ImageFolder` through a `DataLoader` with one worker
   per CPU, listing the same folder and decoding every image once (the least work that
   reads and checks every image).
2. samples/s of `fm.DataLoader(fm.Dataset.from_local(...))` vs. `torch DataLoader` over
   `ImageFolder` with the same size, normalisation, batch size and workers.
3. rows/s of `fermion dataset create` of a CSV table (10 numeric features and a class)
   vs. one `pandas.read_csv` of the same file (parsing only: no checks, nothing written).
4. memory of the server process while it ingests folders of each size: its heap
   (RssAnon) should not grow with the number of images. Memory-mapped Arrow files add
   file-backed pages (RssFile) that the kernel reclaims under pressure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torchvision import datasets as tv_datasets
from torchvision import transforms

import fermion as fm
from bench.results import record
from fermion.client import launcher
from fermion.datasets.samples import write_digits_folder
from fermion.settings import Settings

BATCH, WORKERS, EPOCHS = 64, 2, 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(home: Path) -> Settings:
    settings = Settings(home=home, port=free_port())
    launcher.start(settings)
    return settings


def write_table(path: Path, rows: int) -> Path:
    """A CSV of `rows` rows: ten numeric features and a class label."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(rows, 10)).round(5)
    frame = pd.DataFrame(features, columns=[f"f{i}" for i in range(10)])
    frame["label"] = np.where(features[:, 0] > 0, "up", "down")
    frame.to_csv(path, index=False)
    return path


def table_ingest(settings: Settings, rows: int, work: Path) -> None:
    path = write_table(work / "table.csv", rows)
    start = time.perf_counter()
    pd.read_csv(path)
    plain_s = time.perf_counter() - start
    fermion_s = cli_create(settings, "table", path, "tabular-classification")
    print(
        f"{'table ingest rows/s (create vs pandas.read_csv)':44}"
        f"{rows / fermion_s:12,.0f}{rows / plain_s:12,.0f}{plain_s / fermion_s:8.2f}"
    )
    record(
        "ingest_table",
        f"`dataset create` rows/s / pandas.read_csv, {rows:,}-row CSV",
        plain_s / fermion_s,
        1.0,
        ours=rows / fermion_s,
        baseline=rows / plain_s,
        unit="rows/s",
    )


def cli_create(
    settings: Settings, name: str, folder: Path, kind: str = "image-classification"
) -> float:
    env = {**os.environ, "FERMION_HOME": str(settings.home), "FERMION_PORT": str(settings.port)}
    fermion = Path(sys.executable).with_name("fermion")
    start = time.perf_counter()
    subprocess.run(
        [
            str(fermion),
            "dataset",
            "create",
            "--name",
            name,
            "--type",
            kind,
            "--source",
            str(folder),
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def _count(batch: list) -> int:
    return len(batch)


def imagefolder_decode(folder: Path) -> float:
    """One pass of torchvision's ImageFolder through a DataLoader with a worker per CPU:
    every image opened and decoded once (PIL open + convert("RGB"))."""
    start = time.perf_counter()
    loader = torch.utils.data.DataLoader(
        tv_datasets.ImageFolder(str(folder)),
        batch_size=64,
        num_workers=os.cpu_count(),
        collate_fn=_count,
    )
    sum(loader)
    return time.perf_counter() - start


def epochs_per_second(loader: torch.utils.data.DataLoader, samples: int) -> float:
    for _ in loader:  # warm-up: workers start, files are opened
        pass
    start = time.perf_counter()
    for _ in range(EPOCHS):
        for _batch in loader:
            pass
    return samples * EPOCHS / (time.perf_counter() - start)


def memory_mib(pid: int) -> dict[str, float]:
    """RssAnon (heap: what the process allocated) and RssFile (pages of files it maps,
    which the kernel can drop at any time) from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("RssAnon", "RssFile", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields


class PeakSampler(threading.Thread):
    """Samples a process's memory every 20 ms and keeps the peaks."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_anon, self.peak_file = pid, 0.0, 0.0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.02):
            now = memory_mib(self.pid)
            self.peak_anon = max(self.peak_anon, now["RssAnon"])
            self.peak_file = max(self.peak_file, now["RssFile"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--memory-sizes", default="5000,50000")
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="fermion-bench-"))
    try:
        folder = write_digits_folder(work / "images", count=args.images, size=args.size)
        settings = start_server(work / "home")
        try:
            fermion_s = cli_create(settings, "bench", folder)
            plain_s = imagefolder_decode(folder)
            with fm.Client(settings=settings) as client:
                dataset = fm.Dataset.from_local("bench", client=client)
                info = client.get_dataset_version("bench")
            ours = epochs_per_second(
                fm.DataLoader(dataset, batch_size=BATCH, num_workers=WORKERS), len(dataset)
            )
            height, width = info.spec["image_size"]
            plain_loader = torch.utils.data.DataLoader(
                tv_datasets.ImageFolder(
                    str(folder),
                    transform=transforms.Compose(
                        [
                            transforms.ToTensor(),
                            transforms.Normalize(info.spec["mean"], info.spec["std"]),
                        ]
                    ),
                ),
                batch_size=BATCH,
                shuffle=True,
                num_workers=WORKERS,
                persistent_workers=True,
            )
            plain = epochs_per_second(plain_loader, args.images)
        finally:
            launcher.stop(settings)

        print(f"\n{args.images:,} PNG images of {width}x{height}, {os.cpu_count()} CPUs")
        print(f"{'':44}{'fermion':>12}{'baseline':>12}{'ratio':>8}")
        print(
            f"{'ingest images/s (create vs ImageFolder decode)':44}"
            f"{args.images / fermion_s:12,.0f}{args.images / plain_s:12,.0f}"
            f"{plain_s / fermion_s:8.2f}"
        )
        print(
            f"{'loading samples/s (train split vs whole folder)':44}"
            f"{ours:12,.0f}{plain:12,.0f}{ours / plain:8.2f}"
        )

        record(
            "ingest",
            "`dataset create` images/s / ImageFolder decode, DataLoader(workers=CPUs)",
            plain_s / fermion_s,
            1.0,
            ours=args.images / fermion_s,
            baseline=args.images / plain_s,
            unit="images/s",
        )
        record(
            "loader",
            "fm.DataLoader samples/s / ImageFolder DataLoader, same workers and batch",
            ours / plain,
            1.5,
            ours=ours,
            baseline=plain,
            unit="samples/s",
        )
        settings = start_server(work / "home-table")
        try:
            table_ingest(settings, args.rows, work)
        finally:
            launcher.stop(settings)

        print("\nmemory of the server process while it ingests")
        peaks = {}
        for count in (int(c) for c in args.memory_sizes.split(",")):
            target = work / f"images-{count}"
            write_digits_folder(target, count=count, size=args.size)
            settings = start_server(work / f"home-{count}")
            try:
                pid = launcher.status(settings).pid
                idle = memory_mib(pid)
                sampler = PeakSampler(pid)
                sampler.start()
                seconds = cli_create(settings, "scale", target)
                sampler.done.set()
                sampler.join()
                peak = memory_mib(pid)["VmHWM"]
            finally:
                launcher.stop(settings)
            print(
                f"  {count:>7,} images: heap (RssAnon) peak {sampler.peak_anon:6.1f} MiB, idle"
                f" {idle['RssAnon']:6.1f} MiB; mapped files (RssFile) peak"
                f" {sampler.peak_file:6.1f} MiB; VmHWM {peak:6.1f} MiB;"
                f" {count / seconds:,.0f} images/s"
            )
            shutil.rmtree(target)
            peaks[count] = sampler.peak_anon
        smallest, largest = min(peaks), max(peaks)
        record(
            "ingest_memory",
            f"ingest heap peak, {largest:,} images / {smallest:,} images",
            peaks[largest] / peaks[smallest],
            1.2,
            at_most=True,
            ours=peaks[largest],
            baseline=peaks[smallest],
            unit="MiB",
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
