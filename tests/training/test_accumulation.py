"""Gradient accumulation, checked numerically through the trainer's train_step: one step
at batch 32 equals 4 accumulated micro-batches of 8, alone and under 2 processes, and
the 3 non-final micro-batches make no all-reduce."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

CHECK = Path(__file__).with_name("accumulation_check.py")
ROOT = Path(__file__).parents[2]


def step(tmp_path: Path, accum: int, nproc: int = 1) -> dict:
    out = tmp_path / f"accum{accum}-n{nproc}.json"
    launcher = (
        [sys.executable]
        if nproc == 1
        else [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={nproc}",
        ]
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [*launcher, str(CHECK), "32", str(accum), str(out)],
        env=env,
        cwd=ROOT,
        timeout=180,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(out.read_text())


def close(a: dict, b: dict) -> bool:
    return all(
        torch.allclose(torch.tensor(p), torch.tensor(q), atol=1e-6)
        for p, q in zip(a["params"], b["params"], strict=True)
    )


def test_accumulated_micro_batches_equal_one_big_batch(tmp_path):
    whole = step(tmp_path, accum=1)
    assert close(whole, step(tmp_path, accum=4))  # 4 x 8 on one process
    two_processes = step(tmp_path, accum=4, nproc=2)  # 4 x 4 on each of 2 processes
    assert close(whole, two_processes)
    # Only the last micro-batch's backward synchronised gradients across processes.
    single_sync = step(tmp_path, accum=1, nproc=2)
    assert two_processes["all_reduces"] == single_sync["all_reduces"] > 0
