"""The polyp study's table: one row per model and split, read from the run folders alone.

:func:`table_row` never loads a checkpoint: sizes come from each run's ``config.yaml``, epochs and
time from ``run.json``, scores from ``test/metrics.json`` (so a run copied without its checkpoints
keeps its row). :func:`write_table_files` writes ``table.csv`` (every column) and ``table.md``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from medseg.config import load_config
from medseg.experiments.studies.polyp_design import MODEL_TITLES, PAPER, SPLITS, TEST, SplitSpec
from medseg.io import atomic_write_text, write_table
from medseg.models import count_parameters
from medseg.models.checkpoint import model_from_spec
from medseg.run_folder import RunFolder
from medseg.training.state import model_spec_of

COLUMNS = ("dice", "iou", "precision", "recall", "hd_px")


def _mean(summary: dict[str, Any], key: str) -> float:
    return float(summary.get(key, {}).get("mean", math.nan))


def table_row(out: Path, model: str, spec: SplitSpec) -> dict[str, Any]:
    """One table row from ``out/<split>/<model>``; NaN metrics and a status when not measured."""
    run_dir = out / spec.name / model
    paper = PAPER.get((model, spec.name), {})
    row: dict[str, Any] = {
        "split": spec.name,
        "model": model,
        "parameters": math.nan,
        "image_size": "",
        "epochs": math.nan,
        "seconds_per_epoch": math.nan,
        "test_images": math.nan,
        "inference": "",
        **{column: math.nan for column in COLUMNS},
        "paper_parameters": paper.get("parameters", math.nan),
        "paper_f1": paper.get("f1", math.nan),
        "paper_iou": paper.get("iou", math.nan),
        "status": "not run",
        "warm_start": "",
    }
    run = RunFolder(run_dir)
    metrics = run.results(TEST).metrics
    # A run folder whose checkpoints were pruned (or copied without them) still has its scores.
    if not run.best.is_file() and not metrics.is_file():
        return row
    # Sizes from the run's config: the table never needs to load (or trust) a checkpoint.
    config = load_config(run.config)
    row["parameters"] = count_parameters(model_from_spec(model_spec_of(config)))
    row["image_size"] = "x".join(str(v) for v in config.data.image_size)
    row["warm_start"] = config.train.init_weights or ""  # its epochs came on top of that run's
    info = json.loads(run.run_info.read_text()) if run.run_info.is_file() else {}
    result = info.get("result")
    if result and "epochs_run" in result:  # an averaged run (medseg average) trained no epochs itself
        # Epochs count passes over the training images, also when train.iterations_per_epoch cut them short.
        train = dataclasses.asdict(config.train)
        passes = float(result["epochs_run"])
        n_train = info.get("cases", {}).get("train")
        if train.get("iterations_per_epoch") and n_train:
            passes *= train["iterations_per_epoch"] * train["batch_size"] / n_train
        row["epochs"] = round(passes, 1)
        row["seconds_per_epoch"] = result["train_seconds"] / max(passes, 1e-9)
    row["status"] = "trained, not tested" if result else "training (unfinished)"
    if metrics.is_file():
        summary = json.loads(metrics.read_text())
        for column in ("dice", "iou", "precision", "recall"):
            row[column] = _mean(summary, f"{column}_polyp")
        row["hd_px"] = _mean(summary, "hd_px_polyp")
        row["test_images"] = summary.get("dice_polyp", {}).get("n", math.nan)
        inference = run.results(TEST).root / "inference.json"
        if inference.is_file():
            mode = json.loads(inference.read_text())
            row["inference"] = (
                " + ".join(
                    (["flip TTA"] if mode.get("tta") else [])
                    + (
                        ["scales " + "/".join(f"{s:g}" for s in mode["scales"])]
                        if len(mode.get("scales", [1])) > 1
                        else []
                    )
                )
                or "plain"
            ) + (f", weights of {len(info['averaged_from'])} runs averaged" if info.get("averaged_from") else "")
        row["status"] = "measured" if result else "measured (training unfinished)"
    return row


def _fmt(value: Any, digits: int = 4) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def write_table_files(out: Path, rows: list[dict[str, Any]], quick: bool) -> Path:
    """Writes ``table.csv`` (every column) and ``table.md`` (one section per split)."""
    write_table(out / "table.csv", rows)
    lines = [
        "# Polyp study: MobileU-Net, U-Net, ResU-Net and U-Net++ on Kvasir-SEG and CVC-ClinicDB",
        "",
        "Held-out test images of each split; mean over images. Dice = F1. Hausdorff distance in "
        "pixels (px) of the original images: these datasets publish no pixel spacing. Paper: the "
        "published F1 / IoU (%), on the paper's own split. Seconds per epoch were measured on "
        "whatever machine ran the study (see docs/polyp.md). A warm start (`train.init_weights`) "
        "continued another run: its epochs come on top of that run's (`warm_start` in table.csv).",
    ]
    if quick:
        lines += ["", "**--quick: generated phantoms at tiny sizes; these numbers say nothing about the models.**"]
    for spec in SPLITS:
        lines += ["", f"## {spec.title}", ""]
        lines.append(
            "| model | parameters | input | epochs | s/epoch | test images | inference | Dice (F1) | IoU | "
            "precision | recall | HD (px) | paper F1 | paper IoU | status |"
        )
        lines.append("|" + "---|" * 15)
        for row in rows:
            if row["split"] != spec.name:
                continue
            cells = [
                MODEL_TITLES[row["model"]],
                _fmt(row["parameters"]),
                row["image_size"] or "-",
                _fmt(row["epochs"], 1) + (" (warm start)" if row["warm_start"] else ""),
                _fmt(row["seconds_per_epoch"], 0),
                _fmt(row["test_images"]),
                row["inference"] or "-",
                *(_fmt(row[c]) for c in ("dice", "iou", "precision", "recall")),
                _fmt(row["hd_px"], 1),
                _fmt(row["paper_f1"], 2),
                _fmt(row["paper_iou"], 2),
                row["status"],
            ]
            lines.append("| " + " | ".join(cells) + " |")
    path = out / "table.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
