"""`fermion config`: set this user's default job resources, or print the settings."""

from __future__ import annotations

from typing import Annotated

import typer

from fermion.cli.output import JsonFlag, console, print_json, table
from fermion.client import Client
from fermion.settings import load_settings


def config(
    cpu: Annotated[float | None, typer.Option(help="Default CPU cores per job.")] = None,
    gpu: Annotated[int | None, typer.Option(help="Default GPUs per job.")] = None,
    memory: Annotated[str | None, typer.Option(help="Default memory per job, e.g. 8Gi.")] = None,
    reset: Annotated[bool, typer.Option("--reset", help="Forget the defaults set before.")] = False,
    json: JsonFlag = False,
) -> None:
    """Set default job resources (--cpu/--gpu/--memory), or print the effective settings."""
    settings = load_settings()
    with Client(settings=settings) as client:
        if reset:
            client.clear_job_defaults()
        if cpu is None and gpu is None and memory is None:
            user = client.me()
        else:
            user = client.set_job_defaults(cpu=cpu, gpu=gpu, memory=memory)
    defaults = user.job_defaults.model_dump()
    effective = {
        "home": str(settings.home),
        "config_file": str(settings.config_path),
        "server_url": settings.server_url,
        "database_url": settings.resolved_database_url,
        "artifact_url": settings.resolved_artifact_url,
        "user": user.name,
        "job_defaults": defaults,
    }
    if json:
        print_json(effective)
        return
    out = table("setting", "value")
    for key, value in effective.items():
        if key != "job_defaults":
            out.add_row(key, str(value))
    for key, value in defaults.items():
        out.add_row(f"job default {key}", "-" if value is None else str(value))
    console.print(out)
