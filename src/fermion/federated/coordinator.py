"""`python -m fermion.federated.coordinator federate.json`: a federation's coordinator
job. It starts Flower's SuperLink where the sites' SuperNodes connect, submits Fermion's
Flower App to it (`flwr run`), which runs the ServerApp (server_app.py) for the rounds,
and ends with the run: success when the ServerApp wrote the global model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import fermion.runtime as fm
from fermion.federated import flower
from fermion.payloads import FederationPlan


def start_superlink(plan: FederationPlan, env: dict[str, str], logs: Path) -> subprocess.Popen:
    host, port = flower.split_address(plan.superlink)
    command = [
        flower.program("flower-superlink"),
        "--insecure",  # on a private network; TLS certificates are not yet configurable here
        f"--host={host}",
        f"--port={port}",
        "--disable-runtime-dependency-installation",
        f"--log-file={logs / 'superlink.log'}",
    ]
    return subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL)


def run_status(env: dict[str, str]) -> str:
    """The run's final status as Flower records it (`flwr run` exits 0 either way)."""
    listed = subprocess.run(
        [flower.program("flwr"), "ls", flower.CONNECTION, "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    try:
        runs = json.loads(listed.stdout).get("runs", [])
    except json.JSONDecodeError:
        return f"unknown ({listed.stdout.strip() or listed.stderr.strip()})"
    return runs[-1].get("status", "unknown") if runs else "no run"


def run_rounds(plan: FederationPlan, spec_path: Path, env: dict[str, str]) -> str:
    """Submit the Flower App to the SuperLink and follow it; its final status."""
    flower.write_connection(Path(env["FLWR_HOME"]), plan.superlink)
    command = [
        flower.program("flwr"), "run", str(flower.APP), flower.CONNECTION, "--stream",
        "--run-config", f'plan="{spec_path}"',
    ]  # fmt: skip
    limit = plan.rounds * plan.round_timeout_s + 900
    subprocess.run(command, env=env, stdin=subprocess.DEVNULL, timeout=limit, check=False)
    return run_status(env)


def main(argv: list[str]) -> int:
    spec_path = Path(argv[0]).resolve()
    plan = FederationPlan.read(spec_path)
    job_dir = Path(os.environ.get("FERMION_JOB_DIR", Path.cwd()))
    env = flower.environment(job_dir / "flower")
    superlink = start_superlink(plan, env, job_dir / "flower")
    signal.signal(signal.SIGTERM, lambda *_: (superlink.terminate(), sys.exit(143)))
    try:
        flower.wait_for_port(plan.superlink, 60, superlink)
        print(f"SuperLink at {plan.superlink}; sites: {', '.join(plan.sites)}", flush=True)
        status = run_rounds(plan, spec_path, env)
    except (TimeoutError, RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"error: the SuperLink: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        superlink.terminate()
        superlink.wait(30)
    model = fm.artifacts_dir() / "model" / "model.safetensors"
    if "completed" not in status or not model.exists():
        print(f"error: the federated run ended {status}; see the log above", file=sys.stderr)
        return 1
    print(f"federated run {status}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
