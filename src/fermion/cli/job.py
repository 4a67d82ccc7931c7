"""`fermion job run | list | show | logs | cancel | retry`."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fermion.cli.output import (
    JsonFlag,
    console,
    err_console,
    print_json,
    print_table,
    table,
    when,
)
from fermion.client import Client
from fermion.errors import InvalidInput
from fermion.payloads import NPROC, JobPublic, JobStatus

app = typer.Typer(help="Run commands as jobs and watch them.", no_args_is_help=True)


def _env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise InvalidInput(f"--env {pair!r} must look like KEY=VALUE")
        env[key] = value
    return env


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option(help="Job name (default: the script's name).")] = None,
    nproc: Annotated[
        int, typer.Option(help="Processes per node; above 1 runs under torchrun.")
    ] = NPROC,
    nodes: Annotated[
        int, typer.Option(help="Machines of the cluster (a Ray server); resources are per node.")
    ] = 1,
    cpu: Annotated[float | None, typer.Option(help="CPU cores (default: fermion config).")] = None,
    gpu: Annotated[int | None, typer.Option(help="GPUs (default: fermion config).")] = None,
    memory: Annotated[str | None, typer.Option(help="Memory limit, e.g. 4Gi.")] = None,
    env: Annotated[list[str] | None, typer.Option(help="KEY=VALUE, repeatable.")] = None,
    secret: Annotated[
        list[str] | None,
        typer.Option(help="NAME of a secret (fermion secret set), given as $NAME; repeatable."),
    ] = None,
    max_retries: Annotated[int, typer.Option(help="Run again this often after failing.")] = 0,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Stream the logs.")] = False,
    workdir: Annotated[str, typer.Option(help="Folder to ship as the job's code.")] = ".",
) -> None:
    """Run the command after `--` as a job; prints the job's id.

    fermion job run --nproc 2 --cpu 2 --memory 4Gi -- python train.py --epochs 3

    fermion job run --nodes 2 --nproc 4 -- python train.py   (on a Ray cluster)
    """
    command = list(ctx.args)
    if not command:
        raise InvalidInput("give the command after --, e.g. fermion job run -- python train.py")
    with Client() as client:
        job = client.submit_job(
            command,
            name=name,
            nproc=nproc,
            nodes=nodes,
            cpu=cpu,
            gpu=gpu,
            memory=memory,
            env=_env(env or []),
            secrets=secret or [],
            max_retries=max_retries,
            workdir=workdir,
        )
        where = f", queue position {job.queue_position}" if job.queue_position else ""
        err_console.print(f"Submitted job {job.id} ({job.name}){where}")
        say_why_queued(job)
        if not follow:
            print(job.id)
            return
        stream_logs(client, job.id)


def say_why_queued(job: JobPublic) -> None:
    """A job that cannot start yet says why, and what would free room for it."""
    if job.waiting_for:
        err_console.print(
            f"Job {job.id} is queued, {job.waiting_for}", highlight=False, soft_wrap=True
        )


def _print_live(client: Client, job_id: int) -> None:
    for chunk in client.follow_job_logs(job_id):
        sys.stdout.write(chunk)
        sys.stdout.flush()


def stream_logs(client: Client, job_id: int, exit_on_failure: bool = True) -> None:
    """Print the job's output until it ends; exit with its exit code."""
    _print_live(client, job_id)
    job = client.get_job(job_id)
    err_console.print(
        f"Job {job.id} {job.status.value}"
        + (f": {job.failure_reason}" if job.failure_reason else "")
    )
    if exit_on_failure and job.status is not JobStatus.SUCCEEDED:
        raise typer.Exit(job.exit_code or 1)


@app.command("list")
def list_(
    status: Annotated[JobStatus | None, typer.Option(help="Only jobs in this state.")] = None,
    json: JsonFlag = False,
) -> None:
    """List jobs, newest first."""
    with Client() as client:
        found = client.list_jobs(status.value if status else None)
    if json:
        print_json(found)
        return
    if not found.data:
        err_console.print("No jobs; start one with `fermion job run -- COMMAND`.")
        return
    out = table("id", "name", "status", "nproc", "cpu", "gpu", "memory", "attempt", "created")
    waiting = []
    for job in found.data:
        state = job.status.value + (f" #{job.queue_position}" if job.queue_position else "")
        out.add_row(
            str(job.id),
            job.name,
            state,
            str(job.nproc),
            f"{job.cpu:g}",
            str(job.gpu),
            job.memory,
            str(job.attempt),
            when(job.created_at),
        )
        if job.waiting_for:
            waiting.append(f"job {job.id}: {job.waiting_for}")
    print_table(out, whole=("id", "name", "status"))
    for line in waiting:
        err_console.print(line, highlight=False, soft_wrap=True)


@app.command()
def show(job_id: int, json: JsonFlag = False) -> None:
    """Show a job: command, resources, state, attempts, latest metrics."""
    with Client() as client:
        job = client.get_job(job_id)
        metrics = client.job_metrics(job_id)
        made = [
            v
            for m in client.list_models(job_id=job_id).data
            for v in m.versions
            if v.job_id == job_id
        ]
    if json:
        print_json(
            {
                **job.model_dump(mode="json"),
                "metrics": metrics.model_dump(mode="json"),
                "models": [v.model_dump(mode="json") for v in made],
            }
        )
        return
    console.print(_describe(job))
    if job.history:
        out = table("attempt", "started", "finished", "exit code", "reason", title="Attempts")
        for a in job.history:
            out.add_row(
                str(a.attempt),
                when(a.started_at) if a.started_at else "-",
                when(a.finished_at) if a.finished_at else "-",
                "-" if a.exit_code is None else str(a.exit_code),
                a.reason or "",
            )
        console.print(out)
    for version in made:
        from fermion.cli.model import describe

        console.print(describe(version))
    if metrics.series:
        out = table("metric", "last value", "step", "points", title="Metrics")
        for name, points in metrics.series.items():
            last = points[-1]
            out.add_row(
                name,
                f"{last.value:.6g}",
                "-" if last.step is None else str(last.step),
                str(len(points)),
            )
        console.print(out)


def _describe(job: JobPublic) -> Table:
    facts = table("", "")
    facts.show_header = False
    state = job.status.value
    if job.queue_position:
        state += f" (position {job.queue_position} in the queue)"
    for key, value in (
        ("job", f"{job.id} ({job.name})"),
        ("status", state),
        ("command", " ".join(job.command)),
        (
            "resources",
            (f"{job.nodes} nodes, each: " if job.nodes > 1 else "")
            + f"nproc {job.nproc}, cpu {job.cpu:g}, gpu {job.gpu}, memory {job.memory}"
            + (f", GPUs {job.gpu_ids}" if job.gpu_ids else ""),
        ),
        ("attempt", f"{job.attempt} (retries allowed: {job.max_retries})"),
        ("created", when(job.created_at)),
        ("started", when(job.started_at) if job.started_at else "-"),
        ("finished", when(job.finished_at) if job.finished_at else "-"),
    ):
        facts.add_row(key, value)
    if job.exit_code is not None:
        facts.add_row("exit code", str(job.exit_code))
    if job.waiting_for:
        facts.add_row("waiting", job.waiting_for)
    if job.failure_reason:
        facts.add_row("reason", job.failure_reason)
    if job.env:
        facts.add_row("env", " ".join(f"{k}={v}" for k, v in job.env.items()))
    if job.secrets:
        facts.add_row("secrets", " ".join(job.secrets) + " (values never shown)")
    return facts


@app.command()
def logs(
    job_id: int,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Stream until it ends.")] = False,
    attempt: Annotated[int | None, typer.Option(help="An earlier attempt's log.")] = None,
) -> None:
    """Print a job's output (every rank's, prefixed [rankN] under torchrun)."""
    with Client() as client:
        if follow:
            _print_live(client, job_id)
        else:
            sys.stdout.write(client.job_logs(job_id, attempt))


@app.command()
def artifacts(
    job_id: int,
    download: Annotated[str | None, typer.Option(help="Save them all under this folder.")] = None,
) -> None:
    """List the files a job kept with fm.save_artifact, or download them."""
    with Client() as client:
        names = client.job_artifacts(job_id)
        for name in names:
            if download:
                client.download_artifact(job_id, name, Path(download) / name)
            print(name)
    if not names:
        err_console.print(f"Job {job_id} kept no artifacts.")


@app.command()
def tensorboard(
    job_id: int,
    download: Annotated[
        Path, typer.Option(help="Unpack the event files under this folder.")
    ] = Path("."),
) -> None:
    """Download a job's TensorBoard event files, to look at them with `tensorboard`."""
    with Client() as client:
        folder = client.download_tensorboard(job_id, download)
    console.print(f"Event files in {folder}; run: tensorboard --logdir {folder}")


@app.command()
def cancel(
    job_id: int, wait: Annotated[bool, typer.Option(help="Wait until stopped.")] = True
) -> None:
    """Stop a job: SIGTERM to all its processes, SIGKILL after the grace period."""
    with Client() as client:
        job = client.cancel_job(job_id)
        deadline = time.monotonic() + 30
        while wait and not job.status.is_terminal and time.monotonic() < deadline:
            time.sleep(0.25)
            job = client.get_job(job_id)
    console.print(f"Job {job.id} {job.status.value}")


@app.command()
def delete(job_id: int) -> None:
    """Remove a finished job with its logs, metrics, checkpoints and artifacts; models
    registered from it stay in the registry."""
    with Client() as client:
        client.delete_job(job_id)
    console.print(f"Deleted job {job_id}")


@app.command()
def retry(job_id: int) -> None:
    """Run a failed or cancelled job again (its checkpoints are kept)."""
    with Client() as client:
        job = client.retry_job(job_id)
    console.print(f"Job {job.id} queued again (attempt {job.attempt + 1})")
