"""`fermion secret set NAME` (the value from stdin, a file, or a hidden prompt), `list`,
`delete`: values a job needs that nobody sees again. `fermion job run --secret NAME`
gives one to a job as $NAME."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from fermion.cli.output import JsonFlag, console, err_console, print_json, print_table, table, when
from fermion.client import Client
from fermion.errors import InvalidInput

app = typer.Typer(help="Secrets: sealed at rest, given to the jobs that name them, never shown.")


def read_value(file: Path | None) -> str:
    if file is not None:
        return file.read_text().rstrip("\n")
    if not sys.stdin.isatty():
        return sys.stdin.read().rstrip("\n")
    return typer.prompt("Value", hide_input=True)


@app.command("set")
def set_(
    name: str,
    file: Annotated[Path | None, typer.Option(help="Read the value from this file.")] = None,
) -> None:
    """Set (or replace) a secret; the value comes from --file, stdin, or a hidden prompt."""
    value = read_value(file)
    if not value:
        raise InvalidInput(f"the value of {name} is empty; pipe it in or give --file")
    with Client() as client:
        found = client.set_secret(name, value)
    console.print(f"Secret {found.name} set; jobs get it with --secret {found.name}")


@app.command("list")
def list_(json: JsonFlag = False) -> None:
    """Your secrets' names and when they were set (never their values)."""
    with Client() as client:
        found = client.list_secrets()
    if json:
        print_json(found)
        return
    if not found.data:
        err_console.print("No secrets yet; `fermion secret set NAME < value.txt`.")
        return
    out = table("name", "set", "created")
    for s in found.data:
        out.add_row(s.name, when(s.updated_at), when(s.created_at))
    print_table(out, whole=("name",))


@app.command()
def delete(name: str) -> None:
    """Delete a secret; jobs that name it can no longer start."""
    with Client() as client:
        client.delete_secret(name)
    console.print(f"Deleted secret {name}")
