"""``medseg ensemble``: several predictions' probabilities averaged into masks and measurements."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medseg.cli.base import console, fail
from medseg.errors import MedsegError


def ensemble(
    pred_dirs: Annotated[
        list[Path], typer.Argument(help="two or more medseg predict --save-probabilities folders of one input")
    ],
    out: Annotated[Path, typer.Option(help="output folder (masks or label volumes, and the measurements)")],
    overwrite: Annotated[bool, typer.Option(help="replace an earlier ensemble in OUT (once it is done)")] = False,
) -> None:
    """Average several predictions' class probabilities into masks and measurements (as nnUNetv2_ensemble)."""
    from medseg.experiments.ensemble import ensemble_predictions

    try:
        rows = ensemble_predictions(pred_dirs, out, overwrite)
    except MedsegError as error:
        fail(error)
    table = "volumes.csv" if (out / "volumes.csv").is_file() else "measurements.csv"
    console.print(f"{len(rows)} case(s) from {len(pred_dirs)} folders -> {out}; measurements in {out / table}")
