"""`fm.DataLoader` under a real 2-process torchrun (gloo): each rank reads a disjoint
half of the split, and a new shuffle each epoch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests import sources
from tests.conftest import free_port


def tabular_rows(client, folder: Path) -> str:
    rows = [{"row_id": i, "x": i % 7, "label": "ab"[i % 2]} for i in range(200)]
    source = sources.write_rows(folder / "rows.csv", rows)
    return client.create_dataset("ddp-rows", "tabular-classification", source).name


def numbered_images(client, folder: Path) -> str:
    """200 small images whose first pixel is their number (read back by the batch path)."""
    for i in range(200):
        pixels = np.full((4, 4), 255 - i, dtype=np.uint8)
        pixels[0, 0] = i
        (folder / "ab"[i % 2]).mkdir(exist_ok=True)
        Image.fromarray(pixels).save(folder / "ab"[i % 2] / f"{i:03d}.png")
    return client.create_dataset("ddp-images", "image-classification", folder).name


@pytest.mark.parametrize("make", [tabular_rows, numbered_images])
def test_each_rank_sees_a_disjoint_half(server, client, tmp_path, make):
    name = make(client, tmp_path)
    train_size = client.get_dataset_version(name).split_counts["train"]
    assert train_size % 2 == 0  # an even split: no padding, so the halves are exact

    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={free_port()}",
        str(Path(__file__).with_name("ddp_shards.py")),
        str(tmp_path),
        name,
    ]
    env = {**os.environ, **server.env, "OMP_NUM_THREADS": "1"}
    subprocess.run(command, env=env, check=True, timeout=240, cwd=Path(__file__).parents[2])

    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    for epoch in (0, 1):
        a, b = (set(r["epochs"][epoch]) for r in ranks)
        assert len(ranks[0]["epochs"][epoch]) == len(ranks[1]["epochs"][epoch]) == train_size // 2
        assert not a & b
        assert len(a | b) == train_size
    assert ranks[0]["epochs"][0] != ranks[0]["epochs"][1]  # reshuffled per epoch


def test_a_users_loop_as_a_2_process_job_with_default_resources(jobs_server, digits_dir, tmp_path):
    """The README's own loop (examples/train_digits.py: fm.Dataset, fm.DataLoader, DDP,
    AdamW) as `fermion job run --nproc 2 -- python train_digits.py`, nothing else given."""
    import shutil

    from typer.testing import CliRunner

    from fermion.cli.main import app

    with jobs_server.client() as client:
        client.create_dataset("digits", "image-classification", digits_dir)
    shutil.copy(Path(__file__).parents[2] / "examples" / "train_digits.py", tmp_path)
    result = CliRunner().invoke(
        app,
        [
            "job",
            "run",
            "--nproc",
            "2",
            "--workdir",
            str(tmp_path),
            "--follow",
            "--",
            "python",
            "train_digits.py",
            "--epochs",
            "2",
        ],
        env=jobs_server.env,
    )
    assert result.exit_code == 0, result.output
    with jobs_server.client() as client:
        job = client.list_jobs().data[0]
    assert (job.status.value, job.nproc, job.cpu, job.memory) == ("succeeded", 2, 2.0, "6Gi")
    assert "[rank1]" in result.output
