"""`fermion dataset create | list | show | head | delete`."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Group
from rich.panel import Panel

from fermion.cli.output import (
    JsonFlag,
    console,
    count,
    err_console,
    print_json,
    print_table,
    table,
    when,
)
from fermion.client import Client
from fermion.errors import InvalidInput
from fermion.payloads import DatasetType, DatasetVersionPublic
from fermion.refs import parse_ref
from fermion.resources import format_bytes

app = typer.Typer(help="Register and inspect datasets.", no_args_is_help=True)


def _split_fractions(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise InvalidInput(f"--split {text!r} must be fractions like 0.8,0.1,0.1") from None


TypeOption = Annotated[
    str,
    typer.Option(
        "--type",
        help="image-classification | audio-classification | text-classification |"
        " tabular-classification | tabular-regression | recommendation | object-detection",
    ),
]
UserColumn = Annotated[
    str | None, typer.Option(help="recommendation: the user column (default: user).")
]
ItemColumn = Annotated[
    str | None, typer.Option(help="recommendation: the item column (default: item).")
]


@app.command()
def create(
    name: Annotated[str, typer.Option(help="Dataset name.")],
    type: TypeOption,
    source: Annotated[str, typer.Option(help="A local path or an fsspec URL (s3://...).")],
    label_column: Annotated[str | None, typer.Option(help="Column that holds the label.")] = None,
    text_column: Annotated[str | None, typer.Option(help="Column that holds the text.")] = None,
    user_column: UserColumn = None,
    item_column: ItemColumn = None,
    split: Annotated[str, typer.Option(help="train,validation,test fractions.")] = "0.8,0.1,0.1",
    seed: Annotated[int, typer.Option(help="Seed of the split.")] = 0,
    skip_invalid: Annotated[
        bool, typer.Option(help="Keep valid records, report and skip the rest.")
    ] = False,
    upload: Annotated[
        bool | None,
        typer.Option(help="Upload a local source (default: when the server is remote)."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Processes that read and check images (default: all CPUs)."),
    ] = None,
    secret: Annotated[
        list[str] | None,
        typer.Option(
            help="A secret with the source's credentials: AWS_ACCESS_KEY_ID, or"
            " VARIABLE=SECRET_NAME (repeat for each).",
        ),
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Ingest SOURCE as a new version of dataset NAME; prints NAME:vN."""
    try:
        kind = DatasetType.parse(type)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    with Client() as client, err_console.status(f"Ingesting {source} ..."):
        created = client.create_dataset(
            name,
            kind,
            source,
            label_column=label_column,
            text_column=text_column,
            user_column=user_column,
            item_column=item_column,
            split=_split_fractions(split),
            seed=seed,
            skip_invalid=skip_invalid,
            upload=upload,
            workers=workers,
            secrets=secret or [],
        )
    if json:
        print_json(created)
    else:
        _report(created)
        print(created.ref)


def _split_of(spec: dict[str, Any]) -> str:
    if spec.get("split_by") == "leave-last-out":
        return (
            f"leave-last-out: each user's last interaction to test, the one before to"
            f" validation ({spec['users']} users, {spec['items']} items)"
        )
    return f"{', '.join(str(f) for f in spec['split'])} (seed {spec['seed']})"


def _report(created: DatasetVersionPublic) -> None:
    """What the new version holds, and the records left out, on stderr."""
    if created.skipped_count:
        err_console.print(f"[yellow]Skipped {created.skipped_count} invalid record(s):[/yellow]")
        for problem in created.skipped:
            err_console.print(
                f"  {problem.location}: {problem.reason}", highlight=False, soft_wrap=True
            )
        if created.skipped_count > len(created.skipped):
            err_console.print(f"  ... and {created.skipped_count - len(created.skipped)} more")
    splits = " / ".join(f"{k} {count(v)}" for k, v in created.split_counts.items())
    if created.existing:
        err_console.print(f"Same content as {created.ref}; no new version was made.")
    else:
        err_console.print(f"Created {created.ref}: {count(created.num_records)} records ({splits})")


@app.command("list")
def list_(json: JsonFlag = False) -> None:
    """List datasets with their latest version."""
    with Client() as client:
        found = client.list_datasets()
    if json:
        print_json(found)
        return
    if not found.data:
        err_console.print("No datasets yet; register one with `fermion dataset create`.")
        return
    out = table("name", "type", "latest", "versions", "records", "classes", "size", "created")
    for d in found.data:
        v = d.latest
        out.add_row(
            d.name,
            d.type.value,
            f"v{v.version}",
            str(len(d.versions)),
            count(v.num_records),
            str(len(v.class_names) or "-"),
            format_bytes(v.size_bytes),
            when(v.created_at),
        )
    print_table(out, whole=("name", "latest"))


@app.command()
def show(
    ref: Annotated[str, typer.Argument(help="NAME or NAME:vN")], json: JsonFlag = False
) -> None:
    """Show a dataset version: splits, class counts, source, digest."""
    name, _ = parse_ref(ref)
    one_version = ":" in ref  # NAME:vN or NAME:latest; plain NAME shows every version
    with Client() as client:
        if one_version:
            v, versions = client.get_dataset_version(ref), []
        else:
            dataset = client.get_dataset(name)
            v, versions = dataset.latest, dataset.versions
    if json:
        print_json(v if one_version else dataset)
        return
    console.print(_version_panel(v))
    if versions:
        out = table("version", "records", "digest", "size", "created", title="Versions")
        for item in versions:
            out.add_row(
                f"v{item.version}",
                count(item.num_records),
                item.digest[:12],
                format_bytes(item.size_bytes),
                when(item.created_at),
            )
        console.print(out)


def _version_panel(v: DatasetVersionPublic) -> Panel:
    facts = table("", "")
    facts.show_header = False
    for key, value in (
        ("type", v.type.value),
        ("records", count(v.num_records)),
        ("source", v.source),
        ("digest", v.digest),
        ("size", format_bytes(v.size_bytes)),
        ("stored at", v.uri),
        ("created", when(v.created_at)),
        ("split", _split_of(v.spec)),
    ):
        facts.add_row(key, value)
    if "image_size" in v.spec:
        height, width = v.spec["image_size"]
        facts.add_row(
            "image size", f"{width}x{height}" + ("" if v.spec["uniform_size"] else " (most common)")
        )
    if "seconds" in v.spec:
        seconds = v.spec["seconds"]
        facts.add_row(
            "clips",
            f"{seconds['min']:.2f}-{seconds['max']:.2f} s (median {seconds['median']:.2f} s),"
            f" mostly {v.spec['sample_rate']} Hz",
        )
    if "objects" in v.spec:
        facts.add_row(
            "objects",
            f"{count(v.spec['objects'])} boxes ({v.spec['annotations'].upper()}), at most"
            f" {v.spec['most_objects']} an image; {count(v.spec['background_images'])}"
            " image(s) without any",
        )
    if v.skipped_count:
        facts.add_row("skipped", f"{v.skipped_count} invalid record(s)")
    splits = table("", *v.split_counts)
    splits.add_row("records", *(count(n) for n in v.split_counts.values()), style="bold")
    for name in v.class_names:
        splits.add_row(name, *(count(v.class_counts[s].get(name, 0)) for s in v.split_counts))
    return Panel(Group(facts, splits), title=v.ref, title_align="left")


@app.command()
def head(
    ref: Annotated[str, typer.Argument(help="NAME or NAME:vN")],
    split: Annotated[str, typer.Option(help="train, validation or test")] = "train",
    n: Annotated[int, typer.Option("-n", help="How many rows.")] = 10,
    json: JsonFlag = False,
) -> None:
    """Print the first rows of a split."""
    with Client() as client:
        rows = client.dataset_head(ref, split=split, limit=n)
    if json:
        print_json(rows)
        return
    out = table(*rows.columns, title=f"{rows.ref} {rows.split}")
    for row in rows.rows:
        out.add_row(*(_cell(row.get(c)) for c in rows.columns))
    console.print(out)


def _cell(value: object) -> str:
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


@app.command()
def delete(
    ref: Annotated[str, typer.Argument(help="NAME (every version) or NAME:vN")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a dataset version, or the whole dataset."""
    if not yes and not typer.confirm(f"Delete {ref}?", default=False):
        raise typer.Exit(1)
    with Client() as client:
        deleted = client.delete_dataset(ref)
    console.print(f"Deleted {', '.join(deleted)}")
