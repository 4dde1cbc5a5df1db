"""Evaluation of a trained run on a split: per-case, per-class metrics and measurements."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from medseg.config import Config
from medseg.data.case import Case
from medseg.data.io import write_png
from medseg.inference import Prediction, Predictor
from medseg.io import atomic_write_text, write_table
from medseg.measure.head_circumference import head_circumference, measure_ellipse
from medseg.metrics import case_metrics, summarize
from medseg.reports.overlays import overlay


def measurement_row(case: Case, prediction: Prediction, config: Config) -> dict[str, Any]:
    """Clinical measurements named in ``config.eval.measurements`` for one case."""
    row: dict[str, Any] = {}
    if "head_circumference" in config.eval.measurements:
        pixel_size = case.spacing_mm[1]
        measured = (
            measure_ellipse(prediction.ellipse, pixel_size)
            if prediction.ellipse is not None
            else head_circumference(prediction.mask == 1, pixel_size)
        )
        reference = case.meta.get("reference", {}).get("hc_mm")
        if reference is None and case.mask is not None:
            ref_measure = head_circumference(case.mask == 1, pixel_size)
            reference = ref_measure.hc_mm if ref_measure else None
        hc = measured.hc_mm if measured else math.nan
        row["hc_mm"] = hc
        row["hc_ref_mm"] = reference if reference is not None else math.nan
        row["hc_diff_mm"] = hc - row["hc_ref_mm"]
        row["hc_absdiff_mm"] = abs(row["hc_diff_mm"])
    return row


def evaluate_cases(
    predictor: Predictor, cases: list[Case], out_dir: str | Path | None = None, overlays: bool = True
) -> tuple[list[dict[str, Any]], dict[str, dict[str, float]]]:
    """Predicts every case and scores it against its mask.

    Writes ``per_case.csv``, ``metrics.json`` and ``overlays/<id>.png`` into ``out_dir`` when given.

    Returns:
        Per-case rows and the summary (mean/std/median per column).
    """
    config = predictor.config
    rows = []
    for index, case in enumerate(cases, start=1):
        prediction = predictor.predict(case.image)
        row: dict[str, Any] = {"id": case.id}
        row.update(
            case_metrics(
                prediction.mask,
                case.mask,
                config.data.class_names,
                case.spacing_mm if case.has_spacing else None,
                config.eval.hausdorff,
                config.eval.hausdorff_percentile,
            )
        )
        row.update(measurement_row(case, prediction, config))
        rows.append(row)
        if out_dir is not None and overlays:
            write_png(Path(out_dir) / "overlays" / f"{case.id}.png", overlay(case.image, prediction.mask, case.mask))
        if index % 20 == 0:
            print(f"  evaluated {index}/{len(cases)}", file=sys.stderr, flush=True)
    summary = summarize(rows)
    if out_dir is not None:
        write_table(Path(out_dir) / "per_case.csv", rows)
        atomic_write_text(Path(out_dir) / "metrics.json", json.dumps(summary, indent=1))
    return rows, summary


HEADLINE = ("dice_", "iou_", "hd_mm_", "hd_px_", "hc_absdiff_mm", "hc_diff_mm", "pixel_accuracy")


def headline(summary: dict[str, dict[str, float]], class_names: list[str]) -> dict[str, dict[str, float]]:
    """The metrics worth printing: Dice/IoU per class, Hausdorff, HC errors, accuracy."""
    return {k: v for k, v in summary.items() if k.startswith(HEADLINE)}
