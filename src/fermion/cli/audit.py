"""`fermion audit [--actor NAME] [--since TIME] [--limit N]`: the audit log (admins)."""

from __future__ import annotations

from typing import Annotated

import typer

from fermion.cli.output import JsonFlag, print_json, print_table, table, when
from fermion.client import Client


def audit(
    actor: Annotated[str | None, typer.Option(help="A user's calls (their jobs' too).")] = None,
    since: Annotated[str | None, typer.Option(help="From this time on: 2026-12-01T09:00.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
    json: JsonFlag = False,
) -> None:
    """Every call that changed something, and every sign-in: who, what, when, from where."""
    with Client() as client:
        found = client.audit_events(actor, since, limit)
    if json:
        print_json(found)
        return
    out = table("when", "who", "workspace", "call", "status", "from")
    for e in found.data:
        out.add_row(
            when(e.at),
            e.actor,
            e.workspace or "-",
            f"{e.method} {e.path}",
            str(e.status),
            e.client or "-",
        )
    print_table(out, whole=("call",))
