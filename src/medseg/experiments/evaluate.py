"""Evaluation of a trained run on a split: per-case, per-class metrics and measurements."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any

from medseg.config import Config
from medseg.data.case import Case
from medseg.data.io import write_png
from medseg.inference import Prediction, Predictor
from medseg.inference.measurements import bsi_percent
from medseg.inference.qc import QCCalibration, calibrate, flag_table, load_calibration, qc_signals
from medseg.io import atomic_write_text, write_table
from medseg.measure.ellipse import fit_ellipse_to_mask
from medseg.measure.nodules import largest_nodule
from medseg.measure.units import head_columns, length_unit, lengths_in_pixels
from medseg.metrics import case_metrics, summarize
from medseg.reports.overlays import overlay
from medseg.run_folder import EVALUATION, EvaluationFolder, RunFolder


def measurement_row(case: Case, prediction: Prediction, config: Config) -> dict[str, Any]:
    """Clinical measurements named in ``config.eval.measurements`` for one case."""
    row: dict[str, Any] = {}
    if "head_circumference" in config.eval.measurements:
        spacing = known_spacing(case)
        pixel_size = spacing[1] if spacing is not None else None
        unit = length_unit(pixel_size)
        ellipse = prediction.ellipse if prediction.ellipse is not None else fit_ellipse_to_mask(prediction.mask == 1)
        hc = head_columns(ellipse, pixel_size)[f"hc_{unit}"]
        # a reference in mm means nothing beside a prediction in pixels
        reference = case.meta.get("reference", {}).get("hc_mm") if unit == "mm" else None
        if reference is None and case.mask is not None:
            reference = head_columns(fit_ellipse_to_mask(case.mask == 1), pixel_size)[f"hc_{unit}"]
        row[f"hc_{unit}"] = hc
        row[f"hc_ref_{unit}"] = reference if reference is not None else math.nan
        row[f"hc_diff_{unit}"] = hc - row[f"hc_ref_{unit}"]
        row[f"hc_absdiff_{unit}"] = abs(row[f"hc_diff_{unit}"])
    if "bone_scan_index" in config.eval.measurements:
        row["bsi_percent"] = bsi_percent(prediction.mask, config)
        row["bsi_ref_percent"] = bsi_percent(case.mask, config) if case.mask is not None else math.nan
        row["bsi_absdiff_percent"] = abs(row["bsi_percent"] - row["bsi_ref_percent"])
    if "nodules" in config.eval.measurements:
        spacing = known_spacing(case)
        row.update({f"pred_{k}": v for k, v in largest_nodule(prediction.mask > 0, spacing).items()})
        if case.mask is not None:
            row.update({f"ref_{k}": v for k, v in largest_nodule(case.mask > 0, spacing).items()})
    return row


def known_spacing(case: Case) -> tuple[float, float] | None:
    """The case's pixel spacing, or ``None`` when its reader says the data carries none."""
    if case.meta.get("spacing_known") is False or not case.has_spacing:
        return None
    return case.spacing_mm


def evaluate_cases(
    predictor: Predictor,
    cases: list[Case],
    out_dir: str | Path | None = None,
    overlays: bool = True,
    masks: dict[str, Any] | None = None,
    qc: bool = False,
    calibration: QCCalibration | None = None,
    checkpoint: str = "best",
) -> tuple[list[dict[str, Any]], dict[str, dict[str, float]]]:
    """Predicts every case and scores it against its mask.

    Writes ``per_case.csv``, ``metrics.json``, ``options.json`` (how it predicted: ``checkpoint``, the
    predictor's flips and scales) and ``overlays/<id>.png`` into ``out_dir`` when given;
    fills ``masks`` (when given) with each case's predicted ``(H, W)`` labels by id. With ``qc``,
    each row also holds the QC signals; with a ``calibration``, ``qc_score`` and ``qc_flag``.

    Returns:
        Per-case rows and the summary (mean/std/median per column).
    """
    config = predictor.config
    rows = []
    for index, case in enumerate(cases, start=1):
        prediction = predictor.predict(case.image)
        if masks is not None:
            masks[case.id] = prediction.mask
        row: dict[str, Any] = {"id": case.id}
        row.update(
            case_metrics(
                prediction.mask,
                case.mask,
                config.data.class_names,
                known_spacing(case),
                config.eval.hausdorff,
                config.eval.hausdorff_percentile,
            )
        )
        row.update(measurement_row(case, prediction, config))
        if qc:
            spacing = known_spacing(case)
            signals = qc_signals(predictor, case.image, prediction, spacing[1] if spacing else 1.0)
            row.update(signals if spacing else lengths_in_pixels(signals))
        rows.append(row)
        if out_dir is not None and overlays:
            write_png(EvaluationFolder(out_dir).overlay(case.id), overlay(case.image, prediction.mask, case.mask))
        if index % 20 == 0:
            print(f"  evaluated {index}/{len(cases)}", file=sys.stderr, flush=True)
    if calibration is not None:
        add_flags(rows, calibration)
    summary = summarize(rows, [case.group for case in cases])
    if out_dir is not None:
        write_table(EvaluationFolder(out_dir).per_case, rows)
        atomic_write_text(EvaluationFolder(out_dir).metrics, json.dumps(summary, indent=1))
        # a predictor of another backend has no flips or scales: one view
        views = {"tta": getattr(predictor, "tta", False), "scales": list(getattr(predictor, "scales", (1.0,)))}
        atomic_write_text(EvaluationFolder(out_dir).options, json.dumps({"checkpoint": checkpoint, **views}, indent=1))
    return rows, summary


def add_flags(rows: list[dict[str, Any]], calibration: QCCalibration) -> None:
    """Adds ``qc_score`` and ``qc_flag`` to every row in place."""
    for row in rows:
        row["qc_score"] = calibration.score(row)
        row["qc_flag"] = calibration.flag(row)


def evaluate_with_qc(
    predictor: Predictor,
    cases: list[Case],
    run_dir: Path,
    split: str,
    masks: dict[str, Any],
    qc: bool,
    qc_share: float | None = None,
    checkpoint: str = "best",
) -> tuple[list[dict[str, Any]], dict[str, dict[str, float]], list[dict[str, Any]] | None]:
    """:func:`evaluate_cases` into ``run_dir/evaluation/<split>/``, with the QC flag when ``qc``.

    Evaluating the ``val`` split calibrates the ``qc_flag`` rule and saves it in the run
    (``qc_calibration.json``), reused by every later ``evaluate`` and ``predict``; ``qc_table.csv``
    says, per signal and combined, the share flagged and the share of ``|HC error| > 5 mm`` caught.

    Returns:
        Per-case rows, the summary and the QC table (``None`` without QC or calibration).
    """
    run = RunFolder(run_dir)
    out = run.evaluation(split)
    calibration = load_calibration(run_dir) if qc and split != "val" else None
    rows, summary = evaluate_cases(
        predictor, cases, out.root, masks=masks, qc=qc, calibration=calibration, checkpoint=checkpoint
    )
    if qc and split == "val":
        calibration = calibrate(rows, predictor.config.eval.qc_share if qc_share is None else qc_share)
        calibration.save(run.calibration)
        add_flags(rows, calibration)
        write_table(out.per_case, rows)
    if calibration is None:
        return rows, summary, None
    table = flag_table(rows, calibration)
    write_table(out.qc_table, table)
    return rows, summary, table


HEADLINE = (
    "dice_",
    "iou_",
    "hd_mm_",
    "hd_px_",
    "hc_absdiff_mm",
    "hc_diff_mm",
    "hc_absdiff_px",
    "hc_diff_px",
    "pixel_accuracy",
    "precision_",
    "recall_",
)


def headline(summary: dict[str, dict[str, float]], class_names: list[str]) -> dict[str, dict[str, float]]:
    """The metrics worth printing: Dice/IoU per class, Hausdorff, HC errors, accuracy."""
    return {k: v for k, v in summary.items() if k.startswith(HEADLINE)}


def evaluate_run(
    run_dir: str | Path,
    data: str | Path,
    split: str = "test",
    checkpoint: str = "best",
    tta: bool = False,
    qc: bool | None = None,
    qc_share: float | None = None,
    scales: tuple[float, ...] = (1.0,),
) -> tuple[Path, list[dict[str, Any]], dict[str, Any], list[dict[str, Any]], dict[str, Any], list | None]:
    """Evaluates a run (or a cross-validation folder's ensemble) on a split saved in ``split.json``.

    Writes ``run_dir/evaluation/<split>/`` (``split`` is ``all`` or a name in ``split.json``). QC
    signals and the ``qc_flag`` (``qc``, default ``eval.qc``) as in :func:`evaluate_with_qc`.
    ``scales``: multi-scale inference (the probabilities at each input scale, averaged).

    Returns:
        The output folder, per-case rows and summary, per-volume rows and summary (volume datasets),
        and the QC table (``None`` without QC or calibration).

    Raises:
        ConfigError: a split name that is not a plain name; RunDirError: no such split.
    """
    from medseg.data.readers import read_dataset
    from medseg.data.splits import load_split, select
    from medseg.errors import ConfigError, RunDirError
    from medseg.experiments.evaluate_volumes import evaluate_split_volumes
    from medseg.experiments.rundir import claim
    from medseg.inference import load_predictor

    run_dir = Path(run_dir)
    if not _PLAIN_NAME.fullmatch(split):
        raise ConfigError(f"--split {split!r}: use all or a split name (letters, digits, _ and -)")
    predictor = load_predictor(run_dir, checkpoint, tta=tta, scales=scales)  # a cv directory: its folds as an ensemble
    ids = None
    if split != "all":
        saved = load_split(RunFolder(run_dir).split)
        if split not in saved:
            raise RunDirError(f"{RunFolder(run_dir).split}: no split named {split!r} (have {', '.join(saved)})")
        ids = saved[split]
    config = predictor.config
    cases = read_dataset(config.data.layout, data, max_pixels=config.data.max_pixels, **config.data.reader)
    cases = select(cases, ids) if ids is not None else [case for case in cases if not case.training_only]
    out = RunFolder(run_dir).evaluation(split).root
    claim(run_dir, EVALUATION)
    masks: dict = {}
    qc = config.eval.qc if qc is None else qc
    rows, summary, qc_table = evaluate_with_qc(predictor, cases, run_dir, split, masks, qc, qc_share, checkpoint)
    volume_rows, volume_summary = evaluate_split_volumes(predictor, cases, data, masks, out)
    return out, rows, summary, volume_rows, volume_summary, qc_table


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_-]+")
