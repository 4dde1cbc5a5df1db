"""``medseg <command>``: the typer app, its global options, and the one list of commands.

Each command is a plain function in a module of this package (``train.py``, ``predict.py`` ...)
that parses arguments, calls library functions and prints; shared helpers (the console,
:func:`~medseg.cli.base.fail`, option checks) are in :mod:`medseg.cli.base`. A command module
never imports this file: the registrations below are the only place a command is added, one line
each, in the order ``medseg --help`` lists them (docs/contributing.md).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

# One name per command module; the registrations are at the bottom.
from medseg.cli import (
    data,
    demo,
    deploy,
    ensemble,
    evaluate,
    models,
    predict,
    reports,
    search,
    studies,
    train,
    zoo,
)
from medseg.cli.base import console

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Medical image segmentation with the U-Net family.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from medseg import __version__

        console.print(f"medseg {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", help="print the version and exit", callback=_version, is_eager=True)
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="warnings and errors only: no progress lines or bars")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="also debug lines")] = False,
) -> None:
    """Medical image segmentation with the U-Net family."""
    from medseg.logs import set_verbosity

    set_verbosity(quiet, verbose)


# The commands, one line each.
app.command()(train.train)
app.command()(evaluate.evaluate)
app.command()(evaluate.check_precision)
app.command()(predict.predict)
app.command()(train.average)
app.command()(demo.demo)
app.command()(models.models)
app.command()(train.cv)
app.command()(reports.report)
app.command()(reports.compare)
app.command()(studies.reproduce)
app.command()(data.convert)
app.command()(data.check)
app.command()(search.search)
app.command()(deploy.export)
app.command()(deploy.serve)
app.command()(ensemble.ensemble)
# ``medseg zoo ...``: a group of commands, registered the same way
zoo_app = typer.Typer(no_args_is_help=True, help=zoo.HELP)
app.add_typer(zoo_app, name="zoo")
zoo_app.command()(zoo.package)
zoo_app.command()(zoo.verify)
zoo_app.command()(zoo.rebuild)


def main() -> None:
    """Console entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
