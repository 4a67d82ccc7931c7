"""`fermion`: the command-line interface. Each command group has its own module."""

from __future__ import annotations

from typing import Any

import click
import typer
from typer.core import TyperGroup

from fermion.cli import config, dataset, deployment, job, model, server, train
from fermion.cli.output import err_console
from fermion.errors import FermionError


class FermionGroup(TyperGroup):
    """Shows a FermionError as one clear line and exit code 1, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FermionError as exc:
            err_console.print(
                f"[bold red]Error:[/bold red] {exc.message}", highlight=False, soft_wrap=True
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
app.command("config")(config.config)
app.command("train")(train.train)
app.command("deploy")(deployment.deploy)
app.command("predict")(deployment.predict)
app.add_typer(server.app, name="server")
app.add_typer(dataset.app, name="dataset")
app.add_typer(job.app, name="job")
app.add_typer(model.app, name="model")
app.add_typer(deployment.app, name="deployment")


@app.command("version")
def version() -> None:
    """Print Fermion's version."""
    from fermion import __version__

    print(__version__)


if __name__ == "__main__":
    app()
