"""Replica processes started for real (`python -m fermion.serving.replica`) on free
loopback ports, serving model folders made in place."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import fermion as fm
from tests import sources
from tests.conftest import free_port, start_server, stop_server
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


# -- a server with deployments ---------------------------------------------------------
IMAGE = sources.png_bytes(value=200)


@pytest.fixture(scope="module")
def serving_server(tmp_path_factory):
    running = start_server(
        tmp_path_factory.mktemp("serving-home"),
        FERMION_CAPACITY="cpu=4,memory=16Gi",
        FERMION_JOB_GRACE_S="10",
    )
    yield running
    stop_server(running)


@pytest.fixture()
def sdk(serving_server) -> Iterator[fm.Client]:
    with serving_server.client() as client:
        yield client


@pytest.fixture(scope="module")
def digits_models(serving_server, tmp_path_factory) -> list[str]:
    """Two versions of an image model (different weights) in the registry."""
    root = tmp_path_factory.mktemp("models")
    with serving_server.client() as client:
        return [
            client.import_model("digits-cnn", folders.image_model(root / f"v{i}", seed=i)).ref
            for i in (1, 2)
        ]


class Traffic:
    """A client thread predicting without pause; counts answers and failures."""

    def __init__(self, client: fm.Client, deployment: str) -> None:
        self.client, self.deployment = client, deployment
        self.models: list[str] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        body = {"inputs": [base64.b64encode(IMAGE).decode()]}
        with httpx.Client(
            base_url=self.client.url,
            timeout=30,
            headers={"Authorization": f"Bearer {self.client.token}"},
        ) as http:
            while not self._stop.is_set():
                try:
                    answer = http.post(f"/api/v1/deployments/{self.deployment}/predict", json=body)
                    if answer.status_code == 200:
                        self.models.append(answer.json()["model"])
                    else:
                        self.failures.append(f"{answer.status_code}: {answer.text}")
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
