"""``medseg reproduce``: the papers' experiments, one command each."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medseg.cli.base import console, fail
from medseg.errors import MedsegError


def reproduce(
    study: Annotated[str | None, typer.Argument(help="the study to run (see --list)")] = None,
    out: Annotated[Path | None, typer.Option(help="study folder to create (runs and the table inside)")] = None,
    data: Annotated[Path | None, typer.Option(help="dataset root (the study's help says which)")] = None,
    quick: Annotated[bool, typer.Option(help="run on generated phantoms at tiny sizes, in minutes")] = False,
    list_: Annotated[bool, typer.Option("--list", help="list the studies and exit")] = False,
    overwrite: Annotated[bool, typer.Option(help="replace an earlier study folder")] = False,
    resume: Annotated[bool, typer.Option(help="keep the finished runs of OUT and do the rest")] = False,
    table_only: Annotated[bool, typer.Option(help="train nothing: rebuild the table from OUT's run folders")] = False,
    only: Annotated[
        list[str] | None, typer.Option(help="run only this part of the study (repeatable; e.g. kvasir/mobile_unet)")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="KEY=VALUE config override for every run (repeatable; e.g. train.device=cuda)"),
    ] = None,
) -> None:
    """Rerun a paper's experiment with one command and write its table."""
    from medseg.errors import ConfigError
    from medseg.experiments.reproduce import StudyRequest
    from medseg.experiments.studies import get_study, list_studies

    try:
        if list_ or study is None:
            for entry in list_studies():
                console.print(f"{entry.name:10s} {entry.summary}", highlight=False)
            return
        if out is None:
            raise ConfigError("reproduce needs --out, the study folder to create")
        table = get_study(study).run(
            StudyRequest(out, data, quick, overwrite, resume, table_only, tuple(only or ()), tuple(set_ or ()))
        )
    except MedsegError as error:
        fail(error)
    console.print(table.read_text(), markup=False, highlight=False, soft_wrap=True)
    console.print(f"table: {table}", highlight=False)
