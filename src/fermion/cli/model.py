"""`fermion model list | show`."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Group
from rich.panel import Panel

from fermion.cli.output import JsonFlag, console, err_console, print_json, print_table, table, when
from fermion.client import Client
from fermion.payloads import ModelVersionPublic

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
        out.add_row(m.name, m.type.value, f"v{v.version}", str(len(m.versions)), v.dataset,
                    headline(v.metrics), str(v.job_id or "-"), when(v.created_at))  # fmt: skip
    print_table(out, whole=("name", "latest"))


def headline(metrics: dict[str, Any]) -> str:
    test = metrics.get("test", {})
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
        ("type", v.type.value), ("trained by", f"job {v.job_id}"), ("dataset", v.dataset),
        ("architecture", f"{config.get('model_file') or config.get('model')}"
                         f" ({config.get('architecture', '?')})"),
        ("test", headline(v.metrics)),
        ("best epoch", str(v.metrics.get("best_epoch", "-"))),
        ("stored at", v.uri), ("created", when(v.created_at)),
    ):  # fmt: skip
        facts.add_row(key, value)
    parts: list[Any] = [facts]
    test = v.metrics.get("test", {})
    if "per_class" in test:
        per_class = table("class", "precision", "recall", "f1", "support")
        for name, m in test["per_class"].items():
            per_class.add_row(name, f"{m['precision']:.3f}", f"{m['recall']:.3f}",
                              f"{m['f1']:.3f}", str(m["support"]))  # fmt: skip
        parts.append(per_class)
    if "confusion_matrix" in test:
        labels = test["labels"]
        matrix = table("true \\ predicted", *labels)
        for name, row in zip(labels, test["confusion_matrix"], strict=True):
            matrix.add_row(name, *(str(n) for n in row))
        parts.append(matrix)
    return Panel(Group(*parts), title=v.ref, title_align="left")
