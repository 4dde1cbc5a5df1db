"""``medseg evaluate``: a run scored on a split of its data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medseg.cli.base import check_option, console, fail, parse_scales, print_summary
from medseg.cli.choices import CHECKPOINT, SPLIT, LowPrecision, Threads, value
from medseg.cli.tables import qc_flag_table
from medseg.errors import MedsegError
from medseg.run_folder import EvaluationFolder


def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="a training run directory")],
    data: Annotated[Path, typer.Option(help="dataset root the run was trained on")],
    split: Annotated[str, typer.Option(metavar=SPLIT, help="the split to score")] = "test",
    checkpoint: Annotated[str, typer.Option(metavar=CHECKPOINT, help="the checkpoint to use")] = "best",
    tta: Annotated[bool, typer.Option(help="average with the horizontally flipped prediction")] = False,
    qc: Annotated[bool | None, typer.Option(help="QC signals, qc_flag (default: eval.qc); val calibrates")] = None,
    qc_share: Annotated[float | None, typer.Option(help="share of val cases to flag (default: eval.qc_share)")] = None,
    scales: Annotated[str, typer.Option(help="input scales averaged, e.g. 1,1.1,1.2 (multi-scale)")] = "1",
) -> None:
    """Evaluate a run on a split of its data; writes RUN_DIR/evaluation/<split>/."""
    from medseg.experiments.evaluate import evaluate_run
    from medseg.experiments.report import write_evaluation_report

    try:
        check_option("--qc-share", qc_share, qc_share is not None and 0 < qc_share < 1, "a share in (0, 1)")
        out, rows, summary, volume_rows, volume_summary, qc_table = evaluate_run(
            run_dir, data, split, checkpoint, tta, qc, qc_share, parse_scales(scales)
        )
        report = write_evaluation_report(run_dir, split)
    except MedsegError as error:
        fail(error)
    print_summary(f"{run_dir} on {split} ({len(rows)} images)", summary)
    if qc_table:
        console.print(qc_flag_table(qc_table))
    console.print(f"per-case results: {EvaluationFolder(out).per_case}")
    if volume_rows:
        print_summary(f"per volume ({len(volume_rows)} volumes)", volume_summary, prefix="volume_")
        console.print(f"per-volume results: {EvaluationFolder(out).per_volume}")
    console.print(f"report: {report}", highlight=False)


def check_precision(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="a zoo model's name or a training run directory")],
    data: Annotated[Path, typer.Option(help="dataset root the model was trained on")],
    precision: Annotated[
        LowPrecision,
        typer.Option(help="bfloat16: PyTorch autocast; int8: ONNX Runtime, static quantisation (QDQ)"),
    ] = LowPrecision.bfloat16,
    split: Annotated[str, typer.Option(metavar=SPLIT, help="the split to compare on")] = "val",
    limit: Annotated[int | None, typer.Option(help="only the split's first N images")] = None,
    tolerance: Annotated[
        float | None, typer.Option(help="largest change of the mean foreground Dice allowed (default 0.002)")
    ] = None,
    threads: Threads = None,
    calibration: Annotated[int, typer.Option(help="int8: training-split images that calibrate it")] = 16,
) -> None:
    """Compare a lower inference precision with float32 on a split: Dice of each; fails (exit 2) above the tolerance."""
    from medseg.errors import ConfigError
    from medseg.experiments.precision import TOLERANCE
    from medseg.experiments.precision import check_precision as run_check

    try:
        check_option("--limit", limit, limit is not None and limit >= 1, "at least 1")
        check_option("--threads", threads, threads is not None and threads >= 1, "at least 1")
        check_option("--calibration", calibration, calibration >= 1, "at least 1")
        check_option("--tolerance", tolerance, tolerance is not None and 0 <= tolerance < 1, "in [0, 1)")
        tolerance = TOLERANCE if tolerance is None else tolerance
        result = run_check(model, data, value(precision), split, limit, tolerance, threads, calibration)
        console.print(result.summary(), highlight=False, soft_wrap=True)
        if not result.passed:
            raise ConfigError(
                f"{model}: {result.precision} changes the mean Dice by {result.difference:+.4f} "
                f"(> {result.tolerance:g}); keep float32 for this model"
            )
    except MedsegError as error:
        fail(error)
