"""`fermion server start | stop | status`."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from fermion.cli.output import JsonFlag, console, print_json
from fermion.client import launcher
from fermion.errors import InvalidInput
from fermion.resources import parse_capacity
from fermion.settings import Settings, load_settings

app = typer.Typer(help="Run the local Fermion server.", no_args_is_help=True)

HostOpt = Annotated[str | None, typer.Option(help="Address to bind; 0.0.0.0 exposes it.")]
PortOpt = Annotated[int | None, typer.Option(help="Port to listen on.")]


@app.command()
def start(
    host: HostOpt = None,
    port: PortOpt = None,
    capacity: Annotated[
        str | None,
        typer.Option(help="What jobs may use, e.g. cpu=8,gpu=2,memory=32Gi (default: all)."),
    ] = None,
    executor: Annotated[
        str | None, typer.Option(help="Where jobs run: local (this machine) or ray.")
    ] = None,
    ray_address: Annotated[
        str | None, typer.Option(help="The Ray cluster's head, HOST:PORT (--executor ray).")
    ] = None,
    tls_cert: Annotated[
        Path | None, typer.Option(help="Serve HTTPS with this certificate (PEM).")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="The certificate's private key.")] = None,
    foreground: Annotated[bool, typer.Option(help="Run in this terminal (for services).")] = False,
) -> None:
    """Start the server (in the background unless --foreground)."""
    if capacity:
        parse_capacity(capacity)  # refuse a typo here, not in the server's log
    if executor not in (None, "local", "ray"):
        raise InvalidInput(f"--executor is local or ray, not {executor!r}")
    settings = load_settings(
        host=host,
        port=port,
        capacity=capacity,
        executor=executor,
        ray_address=ray_address,
        tls_cert=tls_cert,
        tls_key=tls_key,
    )
    if settings.executor == "ray" and not settings.ray_address:
        raise InvalidInput("--executor ray needs the cluster's address: --ray-address HOST:PORT")
    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise InvalidInput("HTTPS needs both --tls-cert and --tls-key")
    for given in (settings.tls_cert, settings.tls_key):
        if given is not None and not Path(given).is_file():
            raise InvalidInput(f"{given} is not a file; --tls-cert and --tls-key take PEM files")
    if foreground:
        # The server's own entry point replaces this process (the CLI never imports it).
        flags = {
            "--host": host,
            "--port": port,
            "--capacity": capacity,
            "--executor": executor,
            "--ray-address": ray_address,
            "--tls-cert": tls_cert,
            "--tls-key": tls_key,
        }
        args = [str(part) for flag, value in flags.items() if value for part in (flag, value)]
        os.execv(sys.executable, [sys.executable, "-m", "fermion.server", *args])
    state = launcher.start(settings)
    console.print(f"Fermion server running at {state.url} (pid {state.pid})")
    console.print(f"log: {settings.server_log_path}   token: {settings.credentials_path}")


@app.command()
def stop(
    everything: Annotated[
        bool,
        typer.Option(
            "--all", help="Also stop every job, and scale every deployment to 0 replicas."
        ),
    ] = False,
) -> None:
    """Stop the background server. Jobs and deployments' replicas keep running (a server
    started again finds them) unless --all stops them first."""
    settings = load_settings()
    if everything:
        _stop_workloads(settings)
    still = _still_running(settings)
    if launcher.stop(settings):
        console.print("Fermion server stopped")
        if still:
            console.print(
                f"{still}; they are found again at the next start. To stop them"
                " too: fermion server start, then fermion server stop --all"
            )
    else:
        console.print("no Fermion server was running from this home")


def _stop_workloads(settings: Settings, timeout_s: float = 60) -> None:
    """Scale every deployment to 0 and cancel every job; wait until they have stopped."""
    from fermion.client import Client

    state = launcher.status(settings)
    if not state.running:
        return
    with Client(url=state.url, settings=settings, autostart=False) as client:
        for deployment in client.list_deployments().data:
            if deployment.replicas:
                client.scale_deployment(deployment.name, 0)
                console.print(
                    f"deployment {deployment.name} scaled to 0 (fermion deployment"
                    f" scale {deployment.name} --replicas {deployment.replicas}"
                    " brings it back)"
                )
        active = [j for j in client.list_jobs().data if not j.status.is_terminal]
        for job in active:
            if job.kind != "replica":
                client.cancel_job(job.id)
        deadline = time.monotonic() + timeout_s
        for job in active:
            client.wait_job(job.id, timeout=max(1.0, deadline - time.monotonic()))
        stopped = sum(1 for j in active if j.kind != "replica")
        if stopped:
            console.print(f"{stopped} job(s) cancelled")


def _still_running(settings: Settings) -> str:
    """What will outlive the server, said in words ("" when nothing)."""
    from fermion.client import Client
    from fermion.errors import FermionError

    state = launcher.status(settings)
    if not state.running:
        return ""
    try:
        with Client(url=state.url, settings=settings, autostart=False) as client:
            active = [j for j in client.list_jobs().data if not j.status.is_terminal]
    except FermionError:
        return ""
    replicas = sum(1 for j in active if j.kind == "replica")
    queued = sum(1 for j in active if j.kind != "replica" and j.status.value == "queued")
    running = len(active) - replicas - queued
    parts = [
        f"{running} job(s) keep running" if running else "",
        f"{replicas} deployment replica(s) keep serving" if replicas else "",
        f"{queued} queued job(s) wait" if queued else "",
    ]
    return ", ".join(p for p in parts if p)


@app.command()
def status(json: JsonFlag = False) -> None:
    """Say whether the server is running, and where."""
    state = launcher.status(load_settings())
    if json:
        print_json(state.__dict__)
    elif state.running:
        console.print(f"running at {state.url} (pid {state.pid}, version {state.version})")
    else:
        console.print(f"not running (expected at {state.url})")
        raise typer.Exit(1)
