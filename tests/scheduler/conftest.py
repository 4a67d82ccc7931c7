"""Helpers to run scripts as jobs (the `jobs_server` fixture is in tests/conftest.py)."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import psutil


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


def job_processes(client, job_id: int) -> list[psutil.Process]:
    """The processes of job `job_id` of the server `client` talks to. A job number alone
    is not enough: another server on this machine (a user's own, beside the tests) has
    a job with that number too. A job's directory lies under its own server's home."""
    home = client.settings.home.resolve()
    found = []
    for process in psutil.process_iter():
        try:
            env = process.environ()
        except psutil.Error:
            continue
        job_dir = env.get("FERMION_JOB_DIR")
        if (
            env.get("FERMION_JOB_ID") == str(job_id)
            and job_dir
            and Path(job_dir).resolve().is_relative_to(home)
        ):
            found.append(process)
    return found
