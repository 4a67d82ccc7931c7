"""`fermion user create/list/disable/enable/role` (admins): the people on this server."""

from __future__ import annotations

from typing import Annotated

import typer

from fermion.cli.output import JsonFlag, console, err_console, print_json, print_table, table, when
from fermion.client import Client

app = typer.Typer(help="Users (admins): create (with a first token), list, disable, enable.")

Name = Annotated[str, typer.Argument(help="The user's name.")]


@app.command()
def create(
    name: Name,
    role: Annotated[str, typer.Option(help="admin, member or viewer.")] = "member",
    workspace: Annotated[
        str | None,
        typer.Option("--workspace", "-w", help="A workspace to join and act in by default."),
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Add a user; their first API token is printed this once (stdout)."""
    with Client() as client:
        found = client.create_user(name, role, workspace)
    if json:
        print_json(found)
        return
    where = f" in {found.default_workspace}" if found.default_workspace else ""
    err_console.print(f"User {found.name} ({found.role}){where}. Their token, shown this once:")
    print(found.token)


@app.command("list")
def list_(json: JsonFlag = False) -> None:
    """Every user, their role and workspaces."""
    with Client() as client:
        found = client.list_users()
    if json:
        print_json(found)
        return
    out = table("name", "role", "workspaces", "status", "created")
    for u in found.data:
        spaces = ", ".join(f"{w} ({r})" for w, r in u.workspaces.items()) or "-"
        status = "disabled" if u.disabled else "active"
        out.add_row(u.name, u.role, spaces, status, when(u.created_at))
    print_table(out, whole=("name",))


@app.command()
def disable(name: Name) -> None:
    """Disable a user: their tokens stop working at once; their work stays."""
    with Client() as client:
        client.update_user(name, disabled=True)
    console.print(f"Disabled {name}")


@app.command()
def enable(name: Name) -> None:
    with Client() as client:
        client.update_user(name, disabled=False)
    console.print(f"Enabled {name}")


@app.command()
def role(name: Name, new: Annotated[str, typer.Argument(help="admin, member or viewer.")]) -> None:
    """Change a user's role (their role in their workspaces stays as it is)."""
    with Client() as client:
        client.update_user(name, role=new)
    console.print(f"{name} is now {new}")
