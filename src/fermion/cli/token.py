"""`fermion token create NAME [--expires 30d]`, `list`, `revoke ID`: API tokens for
scripts, CI and other machines."""

from __future__ import annotations

from typing import Annotated

import typer

from fermion.cli.output import JsonFlag, console, err_console, print_json, print_table, table, when
from fermion.client import Client

app = typer.Typer(help="API tokens: create (shown once), list, revoke.")


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="What it is for: ci, laptop.")],
    expires: Annotated[
        str | None, typer.Option(help="How long it lives: 30d, 12h, 90m (default: never).")
    ] = None,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="It reads and calls endpoints; changes nothing.")
    ] = False,
    in_workspace: Annotated[
        str | None, typer.Option("--workspace", help="It acts in this workspace only.")
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Make a token; its secret is printed this once (stdout), the server keeps a hash."""
    with Client() as client:
        found = client.create_token(name, expires, read_only=read_only, workspace=in_workspace)
    if json:
        print_json(found)
        return
    until = f", expires {found.expires_at:%Y-%m-%d %H:%M} UTC" if found.expires_at else ""
    err_console.print(
        f"Token {found.id} ({found.name}){until}. Keep it now; it is not shown again:"
    )
    print(found.token)


@app.command("list")
def list_(json: JsonFlag = False) -> None:
    """Your API tokens (never their secrets)."""
    with Client() as client:
        found = client.list_tokens()
    if json:
        print_json(found)
        return
    out = table("id", "name", "created", "expires", "limits")
    for t in found.data:
        limits = ", ".join(
            [*(["read-only"] if t.read_only else []), *([t.workspace] if t.workspace else [])]
        )
        expiry = when(t.expires_at) if t.expires_at else "never"
        out.add_row(str(t.id), t.name, when(t.created_at), expiry, limits or "-")
    print_table(out, whole=("name",))


@app.command()
def revoke(token_id: Annotated[int, typer.Argument(help="The token's id (token list).")]) -> None:
    """Revoke a token: the next request made with it is refused."""
    with Client() as client:
        client.revoke_token(token_id)
    console.print(f"Revoked token {token_id}")
