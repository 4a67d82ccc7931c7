"""The `fermion` console script as a user runs it: a CLI call that finds no server
starts one and says so; `fermion server start | stop | status` manage it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil

from tests.conftest import free_port

FERMION = str(Path(sys.executable).with_name("fermion"))


def run(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [FERMION, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )


def test_autostart_then_stop(tmp_path):
    env = {"FERMION_HOME": str(tmp_path / "home"), "FERMION_PORT": str(free_port())}
    env.pop("FERMION_URL", None)
    try:
        status = run(env, "server", "status")
        assert status.returncode == 1 and "not running" in status.stdout

        listed = run(env, "dataset", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        assert "Started a Fermion server at http://127.0.0.1:" in listed.stderr
        assert '"count": 0' in listed.stdout
        assert (tmp_path / "home" / "credentials").exists()
        assert (tmp_path / "home" / "server.log").stat().st_size > 0

        status = run(env, "server", "status")
        assert status.returncode == 0 and "running at" in status.stdout
        pid = int(status.stdout.split("pid ")[1].split(",")[0])
        listening = [c.laddr for c in psutil.Process(pid).net_connections() if c.status == "LISTEN"]
        assert [addr.ip for addr in listening] == ["127.0.0.1"]  # loopback unless --host

        again = run(env, "dataset", "list")
        assert "Started" not in again.stderr  # the running server is reused
    finally:
        stopped = run(env, "server", "stop")
    assert "stopped" in stopped.stdout
    assert run(env, "server", "status").returncode == 1


def test_explicit_start_on_a_port(tmp_path):
    port = free_port()
    env = {"FERMION_HOME": str(tmp_path / "home")}
    try:
        started = run(env, "server", "start", "--port", str(port))
        assert started.returncode == 0, started.stderr
        assert f"http://127.0.0.1:{port}" in started.stdout
        assert run({**env, "FERMION_PORT": str(port)}, "dataset", "list").returncode == 0
    finally:
        run(env, "server", "stop")


def test_a_remote_url_is_never_started(tmp_path):
    env = {"FERMION_HOME": str(tmp_path / "home"), "FERMION_URL": f"http://127.0.0.1:{free_port()}"}
    result = run(env, "dataset", "list")
    assert result.returncode == 1
    assert "no Fermion server answers at" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "home" / "server.log").exists()


def test_stop_says_what_keeps_running(tmp_path):
    env = {"FERMION_HOME": str(tmp_path / "home"), "FERMION_PORT": str(free_port())}
    code = tmp_path / "code"
    code.mkdir()
    job_id = ""
    try:
        assert run(env, "server", "start").returncode == 0
        submitted = run(
            env,
            "job",
            "run",
            "--cpu",
            "0.5",
            "--memory",
            "200Mi",
            "--workdir",
            str(code),
            "--",
            "python",
            "-c",
            "import time; time.sleep(300)",
        )
        assert submitted.returncode == 0, submitted.stderr
        job_id = submitted.stdout.strip()
        stopped = run(env, "server", "stop")
        assert "1 job(s) keep running" in stopped.stdout
        assert "fermion server stop --all" in stopped.stdout
        # Found again at the next start; --all stops it, and then the server.
        assert run(env, "server", "start").returncode == 0
        everything = run(env, "server", "stop", "--all")
        assert "1 job(s) cancelled" in everything.stdout, everything.stdout + everything.stderr
        assert "keep running" not in everything.stdout
        assert run(env, "job", "show", job_id).returncode == 0  # autostarts: still recorded
        shown = run(env, "job", "show", job_id, "--json")
        assert '"status": "cancelled"' in shown.stdout
    finally:
        run(env, "server", "start")  # whatever happened, nothing is left behind
        run(env, "server", "stop", "--all")
