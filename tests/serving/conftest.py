"""Replica processes started for real (`python -m fermion.serving.replica`) on free
loopback ports, serving model folders made in place."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import fermion as fm
from tests.conftest import free_port
from tests.serving import folders


@dataclass
class RunningReplica:
    url: str
    process: subprocess.Popen
    log: Path

    def post(self, path: str, **kwargs) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", timeout=30, **kwargs)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=30)


def start_replica(
    folder: Path, log: Path, *args: str, env: dict[str, str] | None = None
) -> RunningReplica:
    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fermion.serving.replica",
                f"--model-dir={folder}",
                f"--port={port}",
                *args,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    replica = RunningReplica(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if replica.get("/readyz").status_code == 200:
                return replica
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"replica did not become ready:\n{log.read_text()}")


def remove(sdk: fm.Client, name: str) -> None:
    """Delete a deployment and wait until its replicas have stopped (and freed room)."""
    jobs = [r.job_id for r in sdk.get_deployment(name).replica_details]
    sdk.delete_deployment(name)
    for job_id in jobs:
        assert sdk.wait_job(job_id, timeout=60).status.value == "cancelled"


@contextmanager
def serving(
    root: Path, make_folder: Callable[[Path], Path], name: str, *args: str
) -> Iterator[RunningReplica]:
    """A replica of the model folder `name` made by `make_folder`, stopped afterwards."""
    replica = start_replica(make_folder(root / name), root / "log", *args)
    try:
        yield replica
    finally:
        replica.process.terminate()
        replica.process.wait(timeout=30)


@pytest.fixture(scope="module")
def image_replica(tmp_path_factory) -> Iterator[RunningReplica]:
    with serving(
        tmp_path_factory.mktemp("image-replica"),
        folders.image_model,
        "digits-cnn",
        "--name=digits",
        "--max-batch-size=8",
        "--max-batch-delay-ms=50",
    ) as replica:
        yield replica


@pytest.fixture(scope="module")
def text_replica(tmp_path_factory) -> Iterator[RunningReplica]:
    with serving(tmp_path_factory.mktemp("text-replica"), folders.text_model, "reviews") as replica:
        yield replica


@pytest.fixture(scope="module")
def tabular_replica(tmp_path_factory) -> Iterator[RunningReplica]:
    with serving(
        tmp_path_factory.mktemp("tabular-replica"), folders.tabular_model, "iris"
    ) as replica:
        yield replica
