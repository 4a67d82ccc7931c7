"""How the CLI shows things: Rich tables for people, `--json` for scripts."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def print_json(value: Any) -> None:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    # Plain print: Rich would wrap long lines and break the JSON.
    print(json.dumps(value, indent=2, default=str))


def table(*columns: str, title: str | None = None) -> Table:
    t = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        t.add_column(column, overflow="fold")
    return t


def print_table(t: Table, whole: tuple[str, ...] = ()) -> None:
    """Print `t`; the columns named in `whole` (names, refs) are never wrapped: on a
    narrow terminal the other columns give way."""
    for column in t.columns:
        if column.header in whole:
            column.no_wrap = True
            column.min_width = max([len(str(column.header))] + [len(str(c)) for c in column.cells])
    console.print(t)


def when(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def count(n: int) -> str:
    return f"{n:,}"
