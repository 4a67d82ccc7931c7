"""`fermion federate --sites a=DATASET_A,b=DATASET_B --rounds 10` trains one model on
datasets that stay where they are; `fermion federate list | show | cancel` look after
federations."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.panel import Panel

from fermion.cli.output import JsonFlag, console, err_console, print_json, print_table, table, when
from fermion.client import Client
from fermion.errors import InvalidInput
from fermion.payloads import FederationPublic

Opt = typer.Option
app = typer.Typer(
    help="Federated training: each site a job that reads only its own dataset (Flower).",
    invoke_without_command=True,
)


@app.callback()
def federate(
    ctx: typer.Context,
    sites: Annotated[
        str | None, Opt(help="SITE=DATASET,...: each site and the dataset only it reads.")
    ] = None,
    name: Annotated[str | None, Opt(help="The federation's name, and its model's.")] = None,
    rounds: Annotated[int, Opt(help="Rounds of training.")] = 10,
    model: Annotated[str | None, Opt(help="The architecture (the dataset type's default).")] = None,
    local_epochs: Annotated[int, Opt(help="Epochs each site trains per round.")] = 1,
    batch_size: Annotated[int, Opt(help="Each site's batch size.")] = 32,
    lr: Annotated[float, Opt(help="Each site's AdamW learning rate.")] = 2e-3,
    strategy: Annotated[str, Opt(help="fedavg or fedprox.")] = "fedavg",
    mu: Annotated[float, Opt(help="FedProx's proximal term.")] = 0.01,
    dp_noise: Annotated[
        float | None, Opt(help="Differential privacy: the noise multiplier (with --dp-clip).")
    ] = None,
    dp_clip: Annotated[
        float | None, Opt(help="Differential privacy: each update's L2 clipping norm.")
    ] = None,
    cpu: Annotated[float | None, Opt(help="CPUs per site.")] = None,
    memory: Annotated[str | None, Opt(help="Memory per site.")] = None,
    seed: Annotated[int, Opt(help="Seeds the initial model.")] = 0,
    follow: Annotated[bool, Opt("--follow", help="Show each round as it ends.")] = False,
    json: JsonFlag = False,
) -> None:
    """Start a federation (with --sites), or look after federations (a command)."""
    if ctx.invoked_subcommand is not None:
        return
    if not sites:
        err_console.print(ctx.get_help())
        raise typer.Exit(2)
    if (dp_noise is None) != (dp_clip is None):
        raise InvalidInput("differential privacy takes both --dp-noise and --dp-clip")
    site_map = parse_sites(sites)
    privacy = {"noise_multiplier": dp_noise, "clipping_norm": dp_clip} if dp_noise else None
    with Client() as client:
        found = client.create_federation(
            name or f"{next(iter(site_map.values())).partition(':')[0]}-federated",
            site_map,
            rounds=rounds,
            model=model,
            local_epochs=local_epochs,
            batch_size=batch_size,
            lr=lr,
            strategy=strategy,
            proximal_mu=mu,
            privacy=privacy,
            cpu=cpu,
            memory=memory,
            seed=seed,
        )
        err_console.print(
            f"Federation {found.name}: {len(found.sites)} sites, {found.rounds} rounds of"
            f" {found.strategy}; rounds in job {found.coordinator_job_id}"
        )
        found = watch(client, found) if follow else found
    if json:
        print_json(found)
    elif follow:
        console.print(summary(found))


def parse_sites(text: str) -> dict[str, str]:
    """a=DATASET_A,b=DATASET_B -> {"a": "DATASET_A", "b": "DATASET_B"}."""
    found = {}
    for part in text.split(","):
        site, sep, dataset = part.partition("=")
        if not sep or not site.strip() or not dataset.strip():
            raise InvalidInput(f"--sites: {part!r} is not SITE=DATASET (a=digits-a,b=digits-b)")
        found[site.strip()] = dataset.strip()
    return found


def watch(client: Client, found: FederationPublic) -> FederationPublic:
    """Print each round's metrics as the coordinator logs them, until the end."""
    shown = 0
    while True:
        found = client.get_federation(found.name)
        if found.coordinator_job_id is not None:
            series = client.job_metrics(found.coordinator_job_id).series
            losses = series.get("train/loss", [])
            accuracy = {p.step: p.value for p in series.get("val/accuracy", [])}
            for point in losses[shown:]:
                seen = accuracy.get(point.step - 1) if point.step else None
                extra = f"; validation accuracy before it {seen:.4f}" if seen is not None else ""
                err_console.print(f"round {point.step}: train loss {point.value:.4f}{extra}")
            shown = len(losses)
        if found.status != "running":
            return found
        time.sleep(2.0)


def summary(found: FederationPublic) -> Panel:
    sites = ", ".join(f"{s.site} ({s.dataset})" for s in found.sites)
    lines = [
        f"status {found.status}" + (f" ({found.reason})" if found.reason else ""),
        f"sites {sites}",
        f"{found.rounds} rounds of {found.strategy}, model {found.model_type},"
        f" coordinator job {found.coordinator_job_id}",
    ]
    if found.privacy:
        lines.append(
            f"differential privacy: noise multiplier {found.privacy.noise_multiplier},"
            f" clipping norm {found.privacy.clipping_norm}"
        )
    if found.model:
        lines.append(f"registered {found.model}")
    return Panel("\n".join(lines), title=f"federation {found.name}", title_align="left")


@app.command("list")
def list_(json: JsonFlag = False) -> None:
    """List federations."""
    with Client() as client:
        found = client.list_federations()
    if json:
        print_json(found)
        return
    if not found.data:
        err_console.print("No federations yet; `fermion federate --sites a=DATASET,b=DATASET`.")
        return
    out = table("name", "status", "sites", "rounds", "strategy", "model", "created")
    for f in found.data:
        out.add_row(
            f.name,
            f.status,
            ", ".join(s.site for s in f.sites),
            str(f.rounds),
            f.strategy,
            f.model or "-",
            when(f.created_at),
        )
    print_table(out, whole=("name",))


@app.command()
def show(name: str, json: JsonFlag = False) -> None:
    """A federation's sites and their jobs, and what it registered."""
    with Client() as client:
        found = client.get_federation(name)
    if json:
        print_json(found)
        return
    console.print(summary(found))
    out = table("site", "dataset", "job", "status")
    for s in found.sites:
        out.add_row(s.site, s.dataset, str(s.job_id or "-"), s.status or "-")
    print_table(out)


@app.command()
def cancel(name: str) -> None:
    """Stop a federation's rounds and sites; nothing is registered."""
    with Client() as client:
        found = client.cancel_federation(name)
    console.print(f"Cancelled federation {found.name}")
