"""``medseg report`` and ``medseg compare``: HTML pages of runs (parsing and printing only)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medseg.cli.base import console, fail
from medseg.cli.choices import SPLIT
from medseg.errors import MedsegError


def report(
    run_dir: Annotated[Path, typer.Argument(help="a training run or cross-validation directory")],
    out: Annotated[
        Path | None,
        typer.Option(
            help="HTML file to write (default RUN_DIR/report.html); never over a file medseg did not write; "
            "records it in .medseg-files.json beside it"
        ),
    ] = None,
    split: Annotated[
        str | None, typer.Option(metavar=SPLIT, help="evaluation to show (default: test, then val)")
    ] = None,
    data: Annotated[Path | None, typer.Option(help="dataset root, to draw overlays that were not saved")] = None,
) -> None:
    """One self-contained HTML page: config, data, learning curves, metrics, worst/best cases, agreement."""
    from medseg.experiments.report import write_report

    try:
        path = write_report(run_dir, out, split, data)
    except MedsegError as error:
        fail(error)
    console.print(f"report: {path}", highlight=False)


def compare(
    run_dirs: Annotated[list[Path], typer.Argument(help="run, cross-validation or search directories")],
    out: Annotated[
        Path,
        typer.Option(
            help="HTML file to write; the same table as .csv and .md beside it, recorded in .medseg-files.json; "
            "never over files medseg did not write"
        ),
    ] = Path("compare.html"),
    split: Annotated[
        str | None, typer.Option(metavar=SPLIT, help="evaluation to compare (default: one all runs have)")
    ] = None,
) -> None:
    """Runs side by side: parameters, FLOPs, training time, metrics, per-case wins; HTML, CSV, Markdown."""
    from medseg.experiments.report import write_compare

    try:
        paths = write_compare(list(run_dirs), out, split)
    except MedsegError as error:
        fail(error)
    console.print(paths[2].read_text(), markup=False, highlight=False, soft_wrap=True)
    console.print("written: " + ", ".join(map(str, paths)), highlight=False)
