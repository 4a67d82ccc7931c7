"""`fermion workspace ...`: the workspaces you belong to, the one you act in; creating
them, their members and quotas (admins)."""

from __future__ import annotations

from typing import Annotated

import typer

from fermion.cli.output import JsonFlag, console, print_json, print_table, table
from fermion.client import Client
from fermion.payloads import WorkspacePublic

app = typer.Typer(help="Workspaces: list, use; create, members and quotas (admins).")

Name = Annotated[str, typer.Argument(help="The workspace's name.")]
Cpu = Annotated[float | None, typer.Option(help="CPU cores its jobs may hold at once.")]
Gpu = Annotated[int | None, typer.Option(help="GPUs its jobs may hold at once.")]
Memory = Annotated[str | None, typer.Option(help="Memory its jobs may hold at once: 16Gi.")]
Jobs = Annotated[int | None, typer.Option(help="Jobs running at once (replicas aside).")]
Replicas = Annotated[int | None, typer.Option(help="Deployment replicas running at once.")]


def _quota(w: WorkspacePublic) -> str:
    parts = [f"{k}={v}" for k, v in w.quota.model_dump(exclude_none=True).items()]
    return ", ".join(parts) or "none"


def _encryption(w: WorkspacePublic) -> str:
    e = w.encryption
    if not e.enabled:
        return "off"
    return f"on (key {e.key}{', sealing files again' if e.sealing else ''})"


def _show(w: WorkspacePublic) -> None:
    console.print(f"[bold]{w.name}[/bold] (you: {w.role})  quota: {_quota(w)}")
    console.print(f"  encryption at rest: {_encryption(w)}")
    for m in w.members:
        console.print(f"  {m.user}  {m.role}")


@app.command("list")
def list_(json: JsonFlag = False) -> None:
    """The workspaces you belong to (an admin: all), your role and their quotas."""
    with Client() as client:
        found = client.list_workspaces()
        me = client.me()
    if json:
        print_json(found)
        return
    out = table("name", "your role", "members", "quota", "encrypted", "")
    for w in found.data:
        mark = "default" if w.name == me.default_workspace else ""
        encrypted = "yes" if w.encryption.enabled else "no"
        out.add_row(w.name, w.role, str(len(w.members)), _quota(w), encrypted, mark)
    print_table(out, whole=("name",))


@app.command()
def show(name: Name, json: JsonFlag = False) -> None:
    with Client() as client:
        found = client.get_workspace(name)
    print_json(found) if json else _show(found)


@app.command()
def use(name: Name) -> None:
    """Act in this workspace from now on (your default; --workspace or
    FERMION_WORKSPACE choose another for one command)."""
    with Client() as client:
        client.use_workspace(name)
    console.print(f"Now acting in workspace {name}")


@app.command()
def create(
    name: Name,
    cpu: Cpu = None,
    gpu: Gpu = None,
    memory: Memory = None,
    jobs: Jobs = None,
    replicas: Replicas = None,
    encrypted: Annotated[
        bool, typer.Option(help="Seal its datasets' and models' files at rest (AES-GCM).")
    ] = False,
) -> None:
    """Create a workspace, with a quota if given (admins)."""
    with Client() as client:
        found = client.create_workspace(
            name, encrypted, cpu=cpu, gpu=gpu, memory=memory, jobs=jobs, replicas=replicas
        )
    _show(found)


@app.command()
def encrypt(name: Name) -> None:
    """Seal the workspace's dataset and model files at rest from now on; those it holds
    are sealed in the background while they stay readable (admins). Cannot be undone."""
    with Client() as client:
        _show(client.encrypt_workspace(name))


@app.command("rotate-key")
def rotate_key(name: Name) -> None:
    """Give the workspace a new data key: new files are sealed with it at once, the
    others in the background (reads go on), then the old key is deleted (admins)."""
    with Client() as client:
        _show(client.rotate_workspace_key(name))


@app.command("add-member")
def add_member(
    name: Name,
    user: Annotated[str, typer.Argument(help="The user to add (or whose role to change).")],
    role: Annotated[str, typer.Option(help="member (creates, changes) or viewer (reads).")] = (
        "member"
    ),
) -> None:
    with Client() as client:
        _show(client.add_member(name, user, role))


@app.command("remove-member")
def remove_member(
    name: Name, user: Annotated[str, typer.Argument(help="The user to remove.")]
) -> None:
    with Client() as client:
        _show(client.remove_member(name, user))


@app.command()
def quota(
    name: Name,
    cpu: Cpu = None,
    gpu: Gpu = None,
    memory: Memory = None,
    jobs: Jobs = None,
    replicas: Replicas = None,
) -> None:
    """Set the workspace's quota; what is left out is no limit (admins)."""
    with Client() as client:
        found = client.set_quota(
            name, cpu=cpu, gpu=gpu, memory=memory, jobs=jobs, replicas=replicas
        )
    _show(found)
