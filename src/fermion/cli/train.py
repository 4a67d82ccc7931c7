"""`fermion train`: the built-in trainer on a registered dataset, as a job."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from fermion.cli.job import say_why_queued, stream_logs
from fermion.cli.output import JsonFlag, err_console, print_json, table
from fermion.cli.progress import follow_training
from fermion.client import Client
from fermion.errors import InvalidInput
from fermion.payloads import TrainPublic

Opt = typer.Option
MODEL_HELP = (
    "small-cnn, resnet18/34/50, mobilenet_v3_small, small-transformer, mlp, or bert (any"
    " Hugging Face encoder folder, with --pretrained)."
)
PRETRAINED_HELP = "Weights (.safetensors/.pt) or a Hugging Face model folder, on the server."


def train(
    dataset: Annotated[str | None, Opt(help="Dataset NAME or NAME:vN.")] = None,
    file: Annotated[
        Path | None, Opt("-f", "--file", help="Options as YAML; flags override.")
    ] = None,
    name: Annotated[str | None, Opt(help="Name to register the model under.")] = None,
    model: Annotated[str | None, Opt(help=MODEL_HELP)] = None,
    pretrained: Annotated[str | None, Opt(help=PRETRAINED_HELP)] = None,
    model_file: Annotated[str | None, Opt(help="Your own nn.Module: path.py:ClassName.")] = None,
    epochs: Annotated[int | None, Opt()] = None,
    batch_size: Annotated[int | None, Opt(help="Per process.")] = None,
    lr: Annotated[float | None, Opt()] = None,
    weight_decay: Annotated[float | None, Opt()] = None,
    optimizer: Annotated[str | None, Opt(help="adamw or sgd.")] = None,
    scheduler: Annotated[str | None, Opt(help="cosine, linear or constant.")] = None,
    warmup_ratio: Annotated[float | None, Opt()] = None,
    precision: Annotated[str | None, Opt(help="auto, fp32, bf16 or fp16 (GPU).")] = None,
    grad_accum: Annotated[int | None, Opt(help="Micro-batches per optimizer step.")] = None,
    max_grad_norm: Annotated[float | None, Opt()] = None,
    nproc: Annotated[int | None, Opt(help="Processes per node (DDP under torchrun).")] = None,
    nodes: Annotated[int | None, Opt(help="Machines of the cluster (a Ray server).")] = None,
    cpu: Annotated[float | None, Opt()] = None,
    gpu: Annotated[int | None, Opt()] = None,
    memory: Annotated[str | None, Opt()] = None,
    seed: Annotated[int | None, Opt()] = None,
    early_stopping: Annotated[
        int | None, Opt(help="Stop after this many epochs without improvement.")
    ] = None,
    image_size: Annotated[int | None, Opt()] = None,
    augment: Annotated[str | None, Opt(help="none, light or standard.")] = None,
    max_retries: Annotated[int | None, Opt()] = None,
    follow: Annotated[bool, Opt("--follow", help="Stream the training log.")] = False,
    json: JsonFlag = False,
) -> None:
    """Train a model on a registered dataset; prints the job id.

    fermion train --dataset digits --model resnet18 --nproc 2 --precision bf16 --follow
    """
    options: dict[str, Any] = {}
    if file is not None:
        options.update(_read_options(file))
    flags = dict(locals())
    for key in ("file", "follow", "json", "options"):
        flags.pop(key)
    options.update({k: v for k, v in flags.items() if v is not None})
    if not options.get("dataset"):
        raise InvalidInput("say which dataset to train on: --dataset NAME (or dataset: in -f)")
    with Client() as client:
        started = client.train(
            options.pop("dataset"), workdir="." if options.get("model_file") else None, **options
        )
        if json:
            print_json(started)
            return
        _report(client, started, follow)


def _report(client: Client, started: TrainPublic, follow: bool) -> None:
    """The resolved options, warnings and queue hint; then the job's progress."""
    shown = table("option", "value", title=f"Training job {started.job.id}")
    for key, value in started.config.items():
        shown.add_row(key, str(value))
    err_console.print(shown)
    for warning in started.warnings:
        err_console.print(
            f"[bold yellow]Warning:[/bold yellow] {warning}", highlight=False, soft_wrap=True
        )
    say_why_queued(started.job)
    if not follow:
        print(started.job.id)
        return
    if not err_console.is_terminal:  # piped or captured: the plain log is more useful
        stream_logs(client, started.job.id)
        return
    job = follow_training(client, started.job.id, err_console)
    err_console.print(
        f"Job {job.id} {job.status.value}"
        + (f": {job.failure_reason}" if job.failure_reason else "")
        + f" (full log: fermion job logs {job.id})"
    )
    if job.status.value != "succeeded":
        raise typer.Exit(job.exit_code or 1)


def _read_options(path: Path) -> dict[str, Any]:
    import yaml

    try:
        loaded = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from None
    if not isinstance(loaded, dict):
        raise InvalidInput(f"{path} must hold a mapping of option: value")
    return {str(k).replace("-", "_"): v for k, v in loaded.items()}
