"""`fermion sweep --dataset D --param lr=loguniform:1e-4:1e-1 ...` starts a hyperparameter
sweep; `fermion sweep list | show | cancel` look after them."""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.panel import Panel

from fermion.cli.output import JsonFlag, console, err_console, print_json, print_table, table, when
from fermion.client import Client
from fermion.errors import InvalidInput
from fermion.payloads import SweepPublic, SweepTrialPublic

Opt = typer.Option
app = typer.Typer(
    help="Hyperparameter sweeps: each trial a training job, chosen by Optuna, pruned early.",
    invoke_without_command=True,
)
PARAM_HELP = (
    "OPTION=RANGE, repeatable: lr=loguniform:1e-4:1e-1, weight_decay=uniform:0:0.1,"
    " epochs=int:3:12, batch_size=choice:32,64."
)


@app.callback()
def sweep(
    ctx: typer.Context,
    dataset: Annotated[str | None, Opt(help="Dataset NAME or NAME:vN.")] = None,
    command: Annotated[
        str | None,
        Opt(help='Your own trial program instead of the trainer: "python train.py ...".'),
    ] = None,
    workdir: Annotated[
        Path, Opt(help="With --command: the folder shipped as each trial's code.")
    ] = Path("."),
    param: Annotated[list[str] | None, Opt(help=PARAM_HELP)] = None,
    name: Annotated[str | None, Opt(help="The sweep's name, and its best model's.")] = None,
    trials: Annotated[int, Opt(help="Trials in all.")] = 12,
    parallel: Annotated[int, Opt(help="Trials at once (each a job in the queue).")] = 2,
    metric: Annotated[
        str, Opt(help="val_accuracy, val_loss, val_macro_f1, val_rmse...")
    ] = "val_accuracy",
    direction: Annotated[str, Opt(help="maximize or minimize.")] = "maximize",
    pruner: Annotated[
        str, Opt(help="median (stop trials worse than the median) or none.")
    ] = "median",
    model: Annotated[str | None, Opt(help="The architecture every trial trains.")] = None,
    epochs: Annotated[int | None, Opt(help="Epochs per trial (unless searched).")] = None,
    cpu: Annotated[float | None, Opt(help="CPUs per trial.")] = None,
    memory: Annotated[str | None, Opt(help="Memory per trial.")] = None,
    seed: Annotated[int, Opt(help="Seeds the sampler.")] = 0,
    follow: Annotated[bool, Opt("--follow", help="Show the trials as they end.")] = False,
    json: JsonFlag = False,
) -> None:
    """Start a sweep (with --dataset and --param), or look after sweeps (a command)."""
    if ctx.invoked_subcommand is not None:
        return
    if (dataset is None and command is None) or not param:
        err_console.print(ctx.get_help())
        raise typer.Exit(2)
    params = parse_params(param)
    trainer = {"model": model, "epochs": epochs} if command is None else {}
    fixed = {"cpu": cpu, "memory": memory, **trainer}
    with Client() as client:
        found = client.create_sweep(
            name or f"{(dataset or 'script').partition(':')[0]}-sweep",
            dataset,
            params,
            command=shlex.split(command) if command else None,
            workdir=workdir if command else None,
            metric=metric,
            direction=direction,
            trials=trials,
            parallel=parallel,
            pruner=pruner,
            seed=seed,
            **{k: v for k, v in fixed.items() if v is not None},
        )
        err_console.print(f"Sweep {found.name}: {trials} trials, {parallel} at a time")
        found = watch(client, found.name) if follow else found
    if json:
        print_json(found)
    elif follow:
        console.print(summary(found))


def parse_params(given: list[str]) -> dict[str, str]:
    """--param OPTION=RANGE, each -> {OPTION: RANGE}."""
    params = {}
    for text in given:
        option, sep, space = text.partition("=")
        if not sep:
            raise InvalidInput(
                f"--param {text!r}: write OPTION=RANGE, e.g. lr=loguniform:1e-4:1e-1"
            )
        params[option.strip()] = space.strip()
    return params


def watch(client: Client, name: str) -> SweepPublic:
    """Print each trial as it starts and ends, until the sweep ends."""
    seen: dict[int, str] = {}
    while True:
        found = client.get_sweep(name)
        for trial in found.trials:
            if seen.get(trial.number) != trial.state:
                seen[trial.number] = trial.state
                err_console.print(describe(found, trial), highlight=False)
        if found.status != "running":
            return found
        time.sleep(1.0)


def describe(found: SweepPublic, trial: SweepTrialPublic) -> str:
    options = " ".join(f"{k}={_short(v)}" for k, v in trial.params.items())
    head = f"trial {trial.number} (job {trial.job_id}) {options}"
    if trial.state == "running":
        return f"{head}: started"
    epochs = len(trial.intermediate)
    value = f"{found.metric} {trial.value:.4f}" if trial.value is not None else "no value"
    return f"{head}: {trial.state} after {epochs} epochs, {value}"


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def summary(found: SweepPublic) -> Panel:
    lines = [
        f"status {found.status}" + (f" ({found.reason})" if found.reason else ""),
        f"trials {len(found.trials)} of {found.trials_wanted}:"
        f" {sum(t.state == 'complete' for t in found.trials)} complete, {found.pruned} pruned,"
        f" {sum(t.state == 'failed' for t in found.trials)} failed",
    ]
    if found.best_trial is not None:
        best = found.trials[found.best_trial]
        options = ", ".join(f"{k}={_short(v)}" for k, v in best.params.items())
        lines.append(f"best trial {best.number}: {found.metric} {best.value:.4f} with {options}")
    if found.model:
        lines.append(f"registered {found.model}")
    if found.importance:
        shares = ", ".join(f"{k} {v:.2f}" for k, v in found.importance.items())
        lines.append(f"importance: {shares}")
    return Panel(
        "\n".join(lines),
        title=f"sweep {found.name} of {found.dataset or ' '.join(found.command or [])}",
        title_align="left",
    )


@app.command("list")
def list_(json: JsonFlag = False) -> None:
    """List sweeps with their progress and best value."""
    with Client() as client:
        found = client.list_sweeps()
    if json:
        print_json(found)
        return
    if not found.data:
        err_console.print(
            "No sweeps yet; `fermion sweep --dataset D --param lr=loguniform:1e-4:1e-1`."
        )
        return
    out = table("name", "status", "dataset", "trials", "pruned", "best", "model", "created")
    for s in found.data:
        best = f"{s.best_value:.4f}" if s.best_value is not None else "-"
        out.add_row(
            s.name,
            s.status,
            s.dataset,
            f"{len(s.trials)}/{s.trials_wanted}",
            str(s.pruned),
            best,
            s.model or "-",
            when(s.created_at),
        )
    print_table(out, whole=("name",))


@app.command()
def show(name: str, json: JsonFlag = False) -> None:
    """A sweep's trials (options, state, metric per epoch) and what it found."""
    with Client() as client:
        found = client.get_sweep(name)
    if json:
        print_json(found)
        return
    console.print(summary(found))
    out = table("trial", "job", "state", *[p.name for p in found.params], found.metric, "epochs")
    for t in found.trials:
        value = f"{t.value:.4f}" if t.value is not None else "-"
        out.add_row(
            str(t.number),
            str(t.job_id or "-"),
            t.state,
            *[_short(t.params.get(p.name)) for p in found.params],
            value,
            str(len(t.intermediate)),
        )
    print_table(out)


@app.command()
def cancel(name: str) -> None:
    """Stop a sweep and its running trials; nothing is registered."""
    with Client() as client:
        found = client.cancel_sweep(name)
    console.print(f"Cancelled sweep {found.name} after {len(found.trials)} trials")
