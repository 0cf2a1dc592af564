"""The ``flexbench`` command: a thin Typer shell over library functions, one module per command."""

from __future__ import annotations

import typer

from flexcode_bench import __version__
from flexcode_bench.cli import ls, prepare, report, run

app = typer.Typer(
    name="flexbench",
    help="Benchmark generative recommenders (FlexCode, TIGER-style, SASRec) under one honest protocol.",
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("prepare")(prepare.command)
app.command("run")(run.command)
app.command("report")(report.command)
app.add_typer(ls.app, name="ls")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"flexbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Benchmark generative recommenders under one honest protocol."""


def main() -> None:
    app()
