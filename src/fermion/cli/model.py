"""`fermion model list | show | evaluate | explain | export | import | delete`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.panel import Panel

from fermion.cli import explain
from fermion.cli.output import JsonFlag, console, err_console, print_json, print_table, table, when
from fermion.client import Client
from fermion.errors import InvalidInput
from fermion.payloads import JobPublic, ModelVersionPublic

app = typer.Typer(help="The model registry.", no_args_is_help=True)


@app.command("list")
def list_(json: JsonFlag = False) -> None:
    """List models with their latest version and its test metrics."""
    with Client() as client:
        found = client.list_models()
    if json:
        print_json(found)
        return
    if not found.data:
        err_console.print("No models yet; `fermion train --dataset NAME` makes one.")
        return
    out = table("name", "type", "latest", "versions", "dataset", "test", "job", "created")
    for m in found.data:
        v = m.latest
        out.add_row(
            m.name,
            m.type.value,
            f"v{v.version}",
            str(len(m.versions)),
            v.dataset,
            headline(v.metrics),
            str(v.job_id or "-"),
            when(v.created_at),
        )
    print_table(out, whole=("name", "latest"))


def headline(metrics: dict[str, Any]) -> str:
    test = metrics.get("test", {})
    if "hr@10" in test:  # a recommender, beside the popularity ranking
        return ", ".join(
            f"{k} {test[k]:.4f} (popularity {test[f'popularity_{k}']:.4f})"
            for k in ("hr@10", "ndcg@10")
        )
    keys = ("accuracy", "macro_f1") if "accuracy" in test else ("rmse", "r2")
    return ", ".join(f"{k} {test[k]:.4f}" for k in keys if k in test) or "-"


@app.command()
def show(
    ref: Annotated[str, typer.Argument(help="NAME or NAME:vN")], json: JsonFlag = False
) -> None:
    """Show a model version: lineage, metrics, per-class precision/recall, confusion matrix."""
    with Client() as client:
        version = client.get_model_version(ref)
    if json:
        print_json(version)
        return
    console.print(describe(version))


def describe(v: ModelVersionPublic) -> Panel:
    facts = table("", "")
    facts.show_header = False
    config = v.config
    for key, value in (
        ("type", v.type.value),
        (
            "trained by",
            f"job {v.job_id}"
            if v.job_id
            else f"imported from {config.get('imported_from', 'elsewhere')}",
        ),
        ("dataset", v.dataset or "-"),
        (
            "architecture",
            f"{config.get('model_file') or config.get('model')}"
            f" ({config.get('architecture', '?')})",
        ),
        ("test", headline(v.metrics)),
        ("best epoch", str(v.metrics.get("best_epoch", "-"))),
        ("deployed as", ", ".join(v.deployments) or "-"),
        ("stored at", v.uri),
        ("created", when(v.created_at)),
    ):
        facts.add_row(key, value)
    parts: list[Any] = [facts]
    if v.evaluations:
        evaluated = table("evaluated on", "split", "records", "result", "job", title="Evaluations")
        for e in v.evaluations:
            evaluated.add_row(
                e["dataset"],
                e["split"],
                str(e["metrics"].get("records", e["metrics"].get("users", "-"))),
                headline({"test": e["metrics"]}),
                str(e.get("job_id") or "-"),
            )
        parts.append(evaluated)
    parts += details(v.metrics.get("test", {}))
    return Panel(Group(*parts), title=v.ref, title_align="left")


def details(test: dict[str, Any]) -> list[Any]:
    """Per-class precision/recall and the confusion matrix, where the metrics have them."""
    parts: list[Any] = []
    if "per_class" in test:
        per_class = table("class", "precision", "recall", "f1", "support")
        for name, m in test["per_class"].items():
            per_class.add_row(
                name,
                f"{m['precision']:.3f}",
                f"{m['recall']:.3f}",
                f"{m['f1']:.3f}",
                str(m["support"]),
            )
        parts.append(per_class)
    if "confusion_matrix" in test:
        labels = test["labels"]
        matrix = table("true \\ predicted", *labels)
        for name, row in zip(labels, test["confusion_matrix"], strict=True):
            matrix.add_row(name, *(str(n) for n in row))
        parts.append(matrix)
    return parts


@app.command()
def evaluate(
    ref: Annotated[str, typer.Argument(help="NAME or NAME:vN")],
    dataset: Annotated[str, typer.Option(help="The dataset: NAME or NAME:vN.")],
    split: Annotated[str, typer.Option(help="Which split.")] = "test",
    importance: Annotated[
        bool,
        typer.Option(
            "--importance",
            help="Also measure global feature importance (permutation for tables,"
            " attribution maps for images, words for text).",
        ),
    ] = False,
    json: JsonFlag = False,
) -> None:
    """Evaluate a model on a dataset split (as a job); the result is kept with the model."""
    from fermion.cli.job import stream_logs

    with Client() as client:
        job = client.evaluate_model(ref, dataset, split, importance=importance)
        err_console.print(f"Evaluating in job {job.id}")
        if json:
            job = client.wait_job(job.id)
        else:
            stream_logs(client, job.id, exit_on_failure=False)
            job = client.get_job(job.id)
        if job.status.value != "succeeded":
            raise typer.Exit(1)
        version = client.get_model_version(ref)
    result = [e for e in version.evaluations if e.get("job_id") == job.id]
    if json:
        print_json(result[-1] if result else {})
        return
    if result:
        metrics = result[-1]["metrics"]
        console.print(
            Panel(
                Group(headline({"test": metrics}), *details(metrics)),
                title=f"{version.ref} on {result[-1]['dataset']} ({split})",
                title_align="left",
            )
        )
        if result[-1].get("importance"):
            console.print(explain.importance_summary(result[-1]["importance"]))


@app.command()
def export(
    ref: Annotated[str, typer.Argument(help="NAME or NAME:vN")],
    format: Annotated[str, typer.Option("--format", help="torchscript or onnx")] = "onnx",
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Folder to write (default ./NAME-vN-FORMAT)."),
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Export a model as TorchScript or ONNX, with its labels and preprocessing (a job;
    the export is checked against PyTorch on inputs it had not seen)."""
    with Client() as client:
        version = client.get_model_version(ref)
        job = client.export_model(version.ref, format)
        with console.status(f"exporting {version.ref} as {format} (job {job.id})..."):
            job = client.wait_job(job.id)
        _succeeded_or_exit(client, job)
        dest = output or Path(f"{version.name}-v{version.version}-{format}")
        result = client.download_export(job.id, dest)
    if json:
        print_json(result)
        return
    difference = result["max_difference"]
    check = (
        "not checked (onnxruntime is not installed)"
        if difference != difference
        else f"outputs match PyTorch within {difference:.1e}"
    )
    console.print(f"Exported {version.ref} to {result['file']} ({check})")
    console.print(f"inputs: {', '.join(result['inputs'])}; labels and preprocessing in {dest}")


def _succeeded_or_exit(client: Client, job: JobPublic) -> None:
    """A conversion job that failed: its reason (the last error line) and exit 1."""
    if job.status.value != "succeeded":
        err_console.print(
            f"[bold red]Error:[/bold red] job {job.id} {job.status.value}:"
            f" {job.failure_reason} (fermion job logs {job.id})",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)


@app.command("import")
def import_(
    name: Annotated[str, typer.Option(help="Registry name for it.")],
    type: Annotated[
        str, typer.Option("--type", help="image-classification or text-classification")
    ],
    path: Annotated[Path, typer.Option(help="The model: a folder.")],
    model: Annotated[
        str | None, typer.Option(help="Image models: the architecture (resnet18, ...).")
    ] = None,
    image_size: Annotated[int, typer.Option(help="Image models: the input side.")] = 224,
    labels: Annotated[
        Path | None,
        typer.Option(help="A label map (JSON list or one per line), inside the folder."),
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Register a model trained elsewhere: a torchvision state dict with a label map, or
    a Hugging Face model directory for text. The folder is uploaded and converted in a
    job, which checks it by predicting on an example before registering it."""
    if not path.is_dir():
        raise InvalidInput(f"--path {path} is not a folder")
    inside = None
    if labels is not None:
        if not labels.resolve().is_relative_to(path.resolve()):
            raise InvalidInput(
                f"--labels {labels} must be inside --path {path}, which is what is uploaded"
            )
        inside = str(labels.resolve().relative_to(path.resolve()))
    with Client() as client:
        job = client.import_trained_elsewhere(
            name, type, path, model=model, image_size=image_size, labels=inside
        )
        with console.status(f"converting and checking {path} (job {job.id})..."):
            job = client.wait_job(job.id)
        _succeeded_or_exit(client, job)
        version = client.list_models(job_id=job.id).data[0].latest
    if json:
        print_json(version)
        return
    console.print(f"Imported {version.ref}")


@app.command()
def delete(
    ref: Annotated[str, typer.Argument(help="NAME:vN, or NAME for every version")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a model version, or a whole model; refused while a deployment serves it."""
    if not yes and sys.stdin.isatty():
        typer.confirm(f"Delete {ref}?", abort=True)
    with Client() as client:
        deleted = client.delete_model(ref)
    console.print(f"Deleted {', '.join(deleted)}")


@app.command("explain")
def explain_(
    ref: Annotated[str, typer.Argument(help="NAME or NAME:vN")],
    input: explain.InputFile = None,
    text: explain.TextOption = None,
    record: explain.RecordOption = None,
    target: explain.TargetOption = None,
    method: explain.MethodOption = None,
    out: explain.OutOption = None,
    json: JsonFlag = False,
) -> None:
    """Why the model answers one input as it does: attributions per pixel (a heat map),
    token or feature, computed in a job."""
    with Client() as client:
        version = client.get_model_version(ref)
        given = explain.read_input(version.type.value, input, text, record)
        with console.status(f"explaining with {version.ref}..."):
            found = client.explain_model(version.ref, target=target, method=method, **given)
    explain.show(found, out, version.ref, json)
