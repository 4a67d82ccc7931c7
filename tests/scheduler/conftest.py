"""A server whose executor has a known, small capacity (2 CPUs, 8 GiB), so the tests
mean the same on any machine; and helpers to run scripts as jobs on it."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import psutil
import pytest

from fermion.client import Client, launcher
from tests.conftest import RunningServer, start_server


@pytest.fixture(scope="module")
def jobs_server(tmp_path_factory) -> RunningServer:
    running = start_server(
        tmp_path_factory.mktemp("jobs-home"),
        FERMION_CAPACITY="cpu=2,memory=8Gi",
        FERMION_JOB_GRACE_S="3",
    )
    yield running
    launcher.stop(running.settings)


@pytest.fixture()
def jobs(jobs_server) -> Client:
    with jobs_server.client() as client:
        yield client


def script(folder: Path, body: str, name: str = "job.py") -> Path:
    """Write a job's script into its own working directory; returns the directory."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(textwrap.dedent(body))
    return folder


def wait_for(predicate, timeout: float = 60, every: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def job_processes(job_id: int) -> list[psutil.Process]:
    """Every process on the machine that belongs to the job (by its environment)."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("FERMION_JOB_ID") == str(job_id):
                found.append(process)
        except psutil.Error:
            continue
    return found
