"""Start, stop and find the local server process.

The server writes `$FERMION_HOME/server.pid` ({"pid", "url"}) when it is up and
removes it when it stops; the launcher reads it. Logs go to `$FERMION_HOME/server.log`.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx
import psutil

from fermion.errors import ServerUnavailable
from fermion.settings import Settings

START_TIMEOUT_S = 60.0


@dataclass
class ServerStatus:
    url: str
    running: bool
    pid: int | None = None
    version: str | None = None


def is_healthy(url: str, timeout: float = 2.0, verify: ssl.SSLContext | bool = True) -> str | None:
    """The server's version when it answers /healthz, else None."""
    try:
        response = httpx.get(f"{url}/healthz", timeout=timeout, verify=verify)
        if response.status_code == 200:
            return response.json().get("version", "?")
    except (httpx.HTTPError, ValueError):
        pass
    return None


def _pid_info(settings: Settings) -> dict | None:
    """The pid file's contents, when the process it names is alive."""
    try:
        info = json.loads(settings.server_pid_path.read_text())
        process = psutil.Process(int(info["pid"]))
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return info
    except (OSError, ValueError, KeyError, TypeError, psutil.Error):
        return None


def status(settings: Settings) -> ServerStatus:
    info = _pid_info(settings)
    url = info["url"] if info else settings.server_url
    version = is_healthy(url, verify=settings.verify)
    return ServerStatus(
        url=url, running=version is not None, pid=info["pid"] if info else None, version=version
    )


def start(settings: Settings) -> ServerStatus:
    """Start the server in the background and wait until it answers."""
    current = status(settings)
    if current.running:
        return current
    settings.home.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "fermion.server",
        "--host",
        settings.host,
        "--port",
        str(settings.port),
        *(["--capacity", settings.capacity] if settings.capacity else []),
    ]
    env = {**os.environ, "FERMION_HOME": str(settings.home)}
    for key in ("database_url", "artifact_url", "tls_cert", "tls_key", "executor", "ray_address"):
        value = getattr(settings, key)
        if value:
            env[f"FERMION_{key.upper()}"] = str(value)
    with open(settings.server_log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # outlives the CLI that started it
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        version = is_healthy(settings.server_url, timeout=1.0, verify=settings.verify)
        if version:
            return ServerStatus(settings.server_url, True, process.pid, version)
        if process.poll() is not None:
            break
        time.sleep(0.2)
    raise ServerUnavailable(
        f"the server did not start at {settings.server_url}; the end of"
        f" {settings.server_log_path}:\n{_tail(settings.server_log_path)}"
    )


def stop(settings: Settings, timeout: float = 15.0) -> bool:
    """Stop the server this home started (SIGTERM, then SIGKILL after `timeout`);
    False when none was running."""
    info = _pid_info(settings)
    if info is None:
        return False
    try:
        process = psutil.Process(int(info["pid"]))
        process.terminate()
        try:
            process.wait(timeout)  # also reaps it when it is our own child
        except psutil.TimeoutExpired:
            process.kill()
            process.wait(5)
    except psutil.NoSuchProcess:
        pass
    settings.server_pid_path.unlink(missing_ok=True)
    return True


def _tail(path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
