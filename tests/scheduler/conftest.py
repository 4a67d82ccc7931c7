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
