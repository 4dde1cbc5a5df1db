"""``medseg demo``: synthetic data, a short training and its evaluation, in one command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medseg.cli.base import console, fail, print_summary
from medseg.errors import MedsegError
from medseg.run_folder import RunFolder


def demo(
    out: Annotated[Path, typer.Option(help="folder for the synthetic data and the run")] = Path("demo_out"),
    overwrite: Annotated[bool, typer.Option(help="replace an existing demo folder")] = False,
    epochs: Annotated[int | None, typer.Option(help="override the demo's epoch count")] = None,
) -> None:
    """Generate synthetic fetal-head ultrasound, train briefly, evaluate, print a summary."""
    from medseg.experiments.demo import run_demo

    try:
        run_dir, n_test, summary = run_demo(out, overwrite, epochs)
    except MedsegError as error:
        fail(error)
    print_summary(f"demo: synthetic test split ({n_test} images)", summary)
    dice, hc = summary["dice_head"]["mean"], summary["hc_absdiff_mm"]["mean"]
    console.print(f"Dice (head) {dice:.3f}, mean absolute HC error {hc:.2f} mm; run in {run_dir}")
    console.print(f"report: {RunFolder(run_dir).evaluation('test').report}", highlight=False)
