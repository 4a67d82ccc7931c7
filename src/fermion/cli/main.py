"""`fermion`: the command-line interface. Each command group has its own module."""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from fermion.cli import (
    audit,
    config,
    dataset,
    deployment,
    federate,
    job,
    model,
    predict,
    secret,
    server,
    sweep,
    token,
    train,
    user,
    workspace,
)
from fermion.cli.output import err_console
from fermion.errors import FermionError
from fermion.settings import load_settings


def crash_log(exc: BaseException) -> Path:
    """Write an unexpected error's traceback where the user can find it; returns where."""
    try:
        folder = load_settings().home / "logs"
        folder.mkdir(parents=True, exist_ok=True)
    except Exception:  # noqa: BLE001 - settings themselves may be what is broken
        folder = Path(tempfile.gettempdir())
    path = folder / "cli-errors.log"
    with open(path, "a") as f:
        f.write(f"--- {datetime.now(UTC).isoformat()} fermion {' '.join(sys.argv[1:])}\n")
        f.write("".join(traceback.format_exception(exc)))
    return path


class FermionGroup(TyperGroup):
    """Shows any error as one clear line and exit code 1, never a traceback: a
    FermionError says what to do; anything else also says where its traceback went."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FermionError as exc:
            err_console.print(
                f"[bold red]Error:[/bold red] {exc.message}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(1) from None
        except (click.exceptions.Exit, click.ClickException, click.Abort, typer.Exit, typer.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 - a bug of ours, reported in one line
            where = crash_log(exc)
            err_console.print(
                f"[bold red]Error:[/bold red] unexpected {type(exc).__name__}: {exc}"
                f" (the full traceback is in {where})",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=FermionGroup,
    name="fermion",
    help="Fermion: datasets, training, models and deployments on your own machines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    workspace_name: Annotated[
        str | None,
        typer.Option(
            "--workspace",
            "-w",
            help="The workspace to act in for this command (default: yours; FERMION_WORKSPACE).",
        ),
    ] = None,
) -> None:
    if workspace_name:  # read by the settings of every Client this command makes
        before = os.environ.get("FERMION_WORKSPACE")
        os.environ["FERMION_WORKSPACE"] = workspace_name
        ctx.call_on_close(lambda: _restore("FERMION_WORKSPACE", before))


def _restore(name: str, value: str | None) -> None:
    """Put an environment variable back as it was (the CLI may run inside a program)."""
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


app.command("config")(config.config)
app.command("audit")(audit.audit)
app.command("train")(train.train)
app.command("deploy")(deployment.deploy)
app.command("predict")(predict.predict)
app.add_typer(server.app, name="server")
app.add_typer(dataset.app, name="dataset")
app.add_typer(job.app, name="job")
app.add_typer(model.app, name="model")
app.add_typer(deployment.app, name="deployment")
app.add_typer(sweep.app, name="sweep")
app.add_typer(federate.app, name="federate")
app.add_typer(secret.app, name="secret")
app.add_typer(token.app, name="token")
app.add_typer(user.app, name="user")
app.add_typer(workspace.app, name="workspace")


@app.command("version")
def version() -> None:
    """Print Fermion's version."""
    from fermion import __version__

    print(__version__)


if __name__ == "__main__":
    app()
