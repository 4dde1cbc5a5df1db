"""One self-contained HTML page for a run: config, data, learning curves, metrics, cases, agreement.

Built from the files of a run directory (:mod:`medseg.reports.rundata`); overlays come from the
evaluation's saved ``overlays/`` or from an ``overlay_for(case_id)`` callable the caller passes
(the experiments layer regenerates them from the model when they were not saved).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from medseg.io import atomic_write_text
from medseg.reports import figures
from medseg.reports.html import data_uri, format_number, image_uri, render
from medseg.reports.rundata import (
    Evaluation,
    RunFiles,
    column,
    measurement_pairs,
    metric_table,
    primary_metric,
    read_run,
    volume_slices,
)
from medseg.run_folder import PER_CASE, RunFolder

OverlayFn = Callable[[str], "np.ndarray | None"]
SPLIT_PREFERENCE = ("test", "val", "train", "all")
GALLERY_SIZE = 4
SLICES_PER_VOLUME = 4
MAX_VOLUMES = 6


def default_split(run: RunFiles) -> str | None:
    """The evaluation a report shows when none is asked: test, then val, train, all, any."""
    for name in SPLIT_PREFERENCE:
        if name in run.evaluations:
            return name
    return next(iter(run.evaluations), None)


def read_overlay(path: Path) -> np.ndarray | None:
    """A saved overlay PNG as ``(H, W, 3)`` RGB; ``None`` if unreadable."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _case_image(evaluation: Evaluation, case_id: str, overlay_for: OverlayFn | None) -> np.ndarray | None:
    for path in evaluation.overlay(case_id)[:1]:
        image = read_overlay(path)
        if image is not None:
            return image
    return overlay_for(case_id) if overlay_for is not None else None


def _caption(row: dict[str, str], keys: list[str]) -> str:
    parts = [row.get("id", "")]
    for key in keys:
        if row.get(key, "") != "":
            parts.append(f"{key} {format_number(row[key], 3)}")
    return " · ".join(parts)


def _caption_keys(columns: list[str], rank_metric: str) -> list[str]:
    suffix = rank_metric.removeprefix("dice_")
    wanted = [rank_metric, f"hd_mm_{suffix}", f"hd_px_{suffix}", "hc_diff_mm"]
    wanted += [c for c in columns if c.startswith("volume") and "diff" in c]
    return [k for k in wanted if k in columns]


def _galleries(
    evaluation: Evaluation, rank_metric: str, overlay_for: OverlayFn | None
) -> list[tuple[str, list[dict[str, str]]]]:
    scores = column(evaluation.rows, rank_metric)
    finite = [i for i in np.argsort(scores, kind="stable") if math.isfinite(scores[i])]
    if not finite:
        return []
    count = min(GALLERY_SIZE, max(1, len(finite) // 2))
    columns = list(evaluation.rows[0])
    keys = _caption_keys(columns, rank_metric)
    galleries = []
    for title, indices in (("Worst", finite[:count]), ("Best", finite[::-1][:count])):
        cases = []
        for i in indices:
            row = evaluation.rows[i]
            image = _case_image(evaluation, row["id"], overlay_for)
            if image is not None:
                cases.append({"id": row["id"], "uri": image_uri(image), "caption": _caption(row, keys)})
        if cases:
            galleries.append((title, cases))
    return galleries


def _per_case_plot(evaluation: Evaluation, foreground: list[str]) -> str | None:
    ids = [row.get("id", str(i)) for i, row in enumerate(evaluation.rows)]
    columns = set(evaluation.rows[0]) if evaluation.rows else set()
    series = {}
    for name in foreground:
        for metric, label in (("iou", "Jaccard"), ("dice", "Dice")):
            if f"{metric}_{name}" in columns:
                series[f"{label} ({name})"] = column(evaluation.rows, f"{metric}_{name}")
    if not series:
        return None
    return data_uri(figures.per_case_chart(ids, series))


def _agreement(evaluation: Evaluation) -> list[dict[str, Any]]:
    blocks = []
    sources = [(PER_CASE, evaluation.rows)] + [(f"{name}.csv", rows) for name, rows in evaluation.tables.items()]
    for source, rows in sources:
        if not rows:
            continue
        for pair in measurement_pairs(list(rows[0])):
            predicted, reference = column(rows, pair.predicted), column(rows, pair.reference)
            stats = figures.agreement_stats(predicted, reference)
            if stats["n"] == 0:
                continue
            label = "HC" if pair.name == "hc" else pair.name.replace("_", " ")
            if pair.unit == "ml" and "volume" not in pair.name:
                label += " volume"
            blocks.append(
                {
                    "title": f"{label} ({pair.unit})" if pair.unit else label,
                    "unit": pair.unit or "units",
                    "source": f"{source}: {pair.predicted} vs {pair.reference}",
                    "stats": stats,
                    "plot": data_uri(figures.agreement(predicted, reference, label, pair.unit or "units")),
                }
            )
    return blocks


def _volumes(evaluation: Evaluation, rank_metric: str | None, overlay_for: OverlayFn | None) -> list[dict[str, Any]]:
    rows = {row["id"]: row for row in evaluation.rows}
    groups = volume_slices(list(rows))
    reference_key = f"recall_{rank_metric.removeprefix('dice_')}" if rank_metric else None
    volumes = []
    for name, slices in list(groups.items())[:MAX_VOLUMES]:
        # slices where the reference holds the structure (recall defined), else all of them
        shown = [s for s in slices if reference_key and math.isfinite(column([rows[s[1]]], reference_key)[0])] or slices
        picks = [shown[round(i)] for i in np.linspace(0, len(shown) - 1, min(SLICES_PER_VOLUME, len(shown)))]
        keys = [rank_metric] if rank_metric else []
        cases = []
        for index, case_id in dict.fromkeys(picks):
            image = _case_image(evaluation, case_id, overlay_for)
            if image is not None:
                cases.append(
                    {
                        "id": case_id,
                        "uri": image_uri(image, 360),
                        "caption": f"z {index} · " + _caption(rows[case_id], keys),
                    }
                )
        if cases:
            volumes.append({"name": name, "n_slices": len(slices), "slices": cases})
    return volumes


def evaluation_context(run: RunFiles, split: str, overlay_for: OverlayFn | None = None) -> dict[str, Any]:
    """Everything the page shows of ``evaluation/<split>``."""
    evaluation = run.evaluations[split]
    columns = list(evaluation.rows[0]) if evaluation.rows else []
    rank = primary_metric(columns, run.class_names)
    return {
        "split": split,
        "n": len(evaluation.rows),
        "predicted_with": evaluation.predicted_with,
        "metrics": metric_table(
            {k: v for k, v in evaluation.summary.items() if not k.startswith("qc_")}, run.class_names
        ),
        "qc": [
            {
                "signal": k,
                "mean": v.get("mean"),
                "sd": v.get("std", v.get("sd")),
                "median": v.get("median"),
                "n": v.get("n"),
            }
            for k, v in evaluation.summary.items()
            if k.startswith("qc_")
        ],
        "qc_needs_calibration": bool(columns)
        and any(c.startswith("qc_") for c in columns)
        and "qc_flag" not in columns,
        "per_case_plot": _per_case_plot(
            evaluation, run.foreground or [c.removeprefix("dice_") for c in columns if c.startswith("dice_")]
        ),
        "rank_metric": rank or "",
        "galleries": _galleries(evaluation, rank, overlay_for) if rank else [],
        "agreement": _agreement(evaluation),
        "volumes": _volumes(evaluation, rank, overlay_for),
    }


def _facts(run: RunFiles, model_facts: dict[str, Any]) -> list[tuple[str, str]]:
    config, info = run.config, run.info
    model = config.get("model", {})
    train = config.get("train", {})
    result = info.get("result") or {}
    facts = [
        ("run", str(run.run_dir)),
        ("model", str(model.get("name", "?"))),
        *[(label, format_number(value)) for label, value in model_facts.items() if label != "input"],
        (
            "input",
            "x".join(str(v) for v in config.get("data", {}).get("image_size", [])) or model_facts.get("input", "?"),
        ),
        ("classes", ", ".join(run.class_names) or "?"),
        ("loss / optimiser", f"{train.get('loss', '?')} / {train.get('optimizer', '?')} lr {train.get('lr', '?')}"),
        ("batch size", str(train.get("batch_size", "?"))),
    ]
    if result:
        facts += [
            ("epochs run", str(result.get("epochs_run", "?"))),
            (
                f"best {train.get('monitor', 'score')}",
                f"{format_number(result.get('best_score'))} at epoch {result.get('best_epoch', '?')}",
            ),
        ]
    if math.isfinite(run.train_seconds):
        facts.append(("training time", f"{run.train_seconds / 60:.1f} min"))
    if info.get("created"):
        facts.append(("created", str(info["created"])))
    code = info.get("code") or {}
    if code:
        facts.append(("code", " ".join(f"{k} {str(v)[:12]}" for k, v in code.items())))
    if run.cv:
        facts.append(("folds", str(run.cv.get("folds", len(run.folds)))))
    return facts


def _data_rows(run: RunFiles) -> list[dict[str, Any]]:
    rows = []
    for name, ids in run.split.items():
        if isinstance(ids, list):
            rows.append({"split": name, "cases": len(ids), "first ids": ", ".join(map(str, ids[:6]))})
    return rows


def _curves(run: RunFiles) -> list[tuple[str, str]]:
    curves = []
    for name, history in [(run.name, run.history)] + [(fold.name, fold.history) for fold in run.folds]:
        png = figures.learning_curves(history) if history else None
        if png is not None:
            curves.append((name, data_uri(png)))
    return curves


def build_run_report(
    run: RunFiles,
    split: str | None = None,
    overlay_for: OverlayFn | None = None,
    model_facts: dict[str, Any] | None = None,
) -> str:
    """The report page as an HTML string.

    Args:
        run: the run's files (:func:`medseg.reports.rundata.read_run`).
        split: which ``evaluation/<split>`` to show (default: :func:`default_split`).
        overlay_for: case id -> ``(H, W, 3)`` RGB overlay, for cases without a saved overlay.
        model_facts: extra facts, e.g. ``{"parameters": 1.9e6, "GFLOPs": 1.2}``.
    """
    split = split or default_split(run)
    cv_rows, cv_columns = [], []
    if run.cv_rows:
        cv_columns = [
            c
            for c in run.cv_rows[0]
            if c == "fold"
            or c.startswith(("val_dice", "val_iou", "test_dice", "test_iou", "val_hc", "test_hc", "best_"))
        ]
        cv_rows = run.cv_rows
    config_text = yaml.safe_dump(run.config, sort_keys=False) if run.config else ""
    return render(
        "report.html.j2",
        title=f"medseg report: {run.name}",
        subtitle=f"{run.run_dir} · written {time.strftime('%Y-%m-%d %H:%M')}",
        run_dir=str(run.run_dir),
        facts=_facts(run, model_facts or {}),
        config_text=config_text,
        data_rows=_data_rows(run),
        data_path=str(run.info.get("data") or (run.cv or {}).get("data") or ""),
        cv_rows=cv_rows,
        cv_columns=cv_columns,
        curves=_curves(run),
        evaluation=evaluation_context(run, split, overlay_for) if split in run.evaluations else None,
    )


def write_run_report(
    run_dir: str | Path,
    out: str | Path | None = None,
    split: str | None = None,
    overlay_for: OverlayFn | None = None,
    model_facts: dict[str, Any] | None = None,
) -> Path:
    """Reads ``run_dir`` and writes its report (default ``run_dir/report.html``), atomically.

    Raises:
        RunDirError: not a run directory, a damaged file, or no evaluation named ``split``.
    """
    from medseg.errors import RunDirError

    run = read_run(run_dir)
    if split is not None and split not in run.evaluations:
        have = ", ".join(run.evaluations) or "none"
        raise RunDirError(f"{RunFolder(run_dir).evaluation(split).root}: no evaluation of that split (have: {have})")
    out = Path(out) if out is not None else RunFolder(run_dir).report
    atomic_write_text(out, build_run_report(run, split, overlay_for, model_facts))
    return out
