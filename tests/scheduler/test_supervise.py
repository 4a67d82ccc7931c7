"""The per-attempt supervisor, run for real."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


def supervised(state: Path, log: Path, *options: str) -> tuple[subprocess.Popen, list]:
    """A supervisor running SLEEPER, once the command has started; and the command."""
    supervisor = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fermion.scheduler.supervise",
            f"--state-dir={state}",
            f"--log={log}",
            *options,
            "--",
            *SLEEPER,
        ],
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while not (state / "started.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    command = psutil.Process(supervisor.pid).children()
    assert len(command) == 1
    return supervisor, command


def test_the_command_dies_with_a_killed_supervisor(tmp_path):
    """A supervisor killed with SIGKILL cannot stop its command itself; the command must
    not live on beside the attempt that replaces it."""
    supervisor, command = supervised(tmp_path, tmp_path / "log")
    os.kill(supervisor.pid, signal.SIGKILL)
    supervisor.wait()
    gone, alive = psutil.wait_procs(command, timeout=10)
    assert alive == [], "the command outlived its supervisor"


def test_an_attempt_whose_home_is_removed_stops_by_itself(tmp_path):
    """A test's or a demo's home removed with its jobs still running: no server will
    ever collect them, so they end instead of holding memory for good."""
    state = tmp_path / "home" / "jobs" / "1" / "attempts" / "1"
    state.mkdir(parents=True)
    supervisor, command = supervised(state, tmp_path / "log", "--grace=1")
    shutil.rmtree(tmp_path / "home")
    assert supervisor.wait(timeout=20) == 0
    gone, alive = psutil.wait_procs(command, timeout=5)
    assert alive == [], "the command outlived its removed home"


def test_secret_values_never_reach_the_log():
    import io

    from fermion.scheduler.supervise import masking_copy

    class Trickle(io.BytesIO):  # a pipe hands over a few bytes at a time
        def read1(self, size: int = -1) -> bytes:
            return super().read1(3)

    output = b"token=abc123 and again abc123\nno newline at the end: abc123"
    log = io.BytesIO()
    masking_copy(Trickle(output), log, [b"abc123", b""])
    assert log.getvalue() == (b"token=******** and again ********\nno newline at the end: ********")
