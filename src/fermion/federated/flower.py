"""Starting Flower's own programs (the SuperLink, a SuperNode, `flwr run`) inside a job:
their state under the job's folder (FLWR_HOME), no telemetry, no update check, no
dependency installation (every party runs this environment's Fermion)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

APP = Path(__file__).parent / "app"  # the Flower App: fermion's ServerApp and ClientApp
CONNECTION = "fermion"


def program(name: str) -> str:
    """A Flower console script of this environment."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} is not installed: pip install 'fermion[federated]'")
    return found


def environment(flower_home: Path) -> dict[str, str]:
    flower_home.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        # Flower's programs start one another by name (flower-superexec, flwr-serverapp).
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "FLWR_HOME": str(flower_home),
        "FLWR_TELEMETRY_ENABLED": "0",
        "FLWR_DISABLE_UPDATE_CHECK": "1",
    }


def write_connection(flower_home: Path, address: str) -> None:
    """`flwr run APP fermion` reaches the SuperLink at `address`."""
    (flower_home / "config.toml").write_text(
        f'[superlink]\ndefault = "{CONNECTION}"\n\n'
        f'[superlink.{CONNECTION}]\naddress = "{address}"\ninsecure = true\n'
    )


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for_port(address: str, timeout_s: float, process: subprocess.Popen) -> None:
    """Until `process` answers at `address`."""
    host, port = split_address(address)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"it exited ({process.returncode}) before listening") from None
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"nothing answers at {address} after {timeout_s:.0f} s"
                ) from None
            time.sleep(0.2)
