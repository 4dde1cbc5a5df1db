"""The lung study's outputs: comparison table, grid heatmaps and per-nodule sizes."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from medseg.config import Config
from medseg.data.loading import load_cases
from medseg.data.splits import select
from medseg.experiments.evaluate import known_spacing
from medseg.inference import load_predictor
from medseg.io import atomic_write_bytes, atomic_write_text, write_table
from medseg.measure.nodules import measure_nodules, size_unit
from medseg.metrics import confusion

NAMES = {"unet": "U-Net", "attention_unet": "Attention U-Net"}
TARGET_DICE = 0.80
TARGET_PRECISION = 0.75
SMALL_NODULE_PX = 100  # crops are scored apart below and above this reference nodule size


def _stat(summary: dict[str, Any], key: str) -> tuple[float, float]:
    entry = summary["metrics"].get(key, {})
    return entry.get("mean", math.nan), entry.get("sd", math.nan)


def comparison_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per network: the grid's pick and score, the folds' scores (mean, sd) and the ensemble's."""
    rows = []
    for result in results:
        grid, cv = result["grid"], result["cv"]
        params = grid["best"]["params"]
        row: dict[str, Any] = {
            "network": NAMES.get(result["network"], result["network"]),
            "lr": params.get("train.lr", ""),
            "batch_size": params.get("train.batch_size", ""),
            "grid_val_dice": grid["best"]["value"],
        }
        for split in ("val", "test"):
            for metric in ("dice_nodule", "recall_nodule", "precision_nodule"):
                mean, sd = _stat(cv, f"{split}_{metric}")
                name = f"{'folds_val' if split == 'val' else 'held_out'}_{metric.removesuffix('_nodule')}"
                row[f"{name}_mean"], row[f"{name}_sd"] = mean, sd
        for metric, value in cv.get("ensemble_test", {}).items():
            if metric in ("dice_nodule", "recall_nodule", "precision_nodule"):
                row[f"ensemble_held_out_{metric.removesuffix('_nodule')}"] = value
        row["grid_minutes"] = result["minutes"]["grid"]
        row["cv_minutes"] = result["minutes"]["cv"]
        rows.append(row)
    return rows


def _pm(row: dict[str, Any], name: str) -> str:
    mean, sd = row.get(f"{name}_mean", math.nan), row.get(f"{name}_sd", math.nan)
    return f"{mean:.3f} ± {sd:.3f}" if math.isfinite(sd) else f"{mean:.3f}"


def markdown_table(rows: list[dict[str, Any]], held_out: int, data: str, quick: bool) -> str:
    """The comparison as a Markdown table with a few lines saying what the numbers are."""
    lines = [
        "# Lung nodule study: U-Net vs Attention U-Net" + (" (--quick, phantoms: not real results)" if quick else ""),
        "",
        f"Data: `{data}`. Held-out crops: {held_out} (patients never seen by the grid or the folds).",
        "Held-out scores are per-crop means; `± sd` is over the fold models. Ensemble: the folds' averaged "
        "probabilities.",
        "",
        "| network | grid pick (lr, batch) | grid val Dice | folds' val Dice | held-out Dice | held-out recall "
        "| held-out precision | ensemble Dice | ensemble recall | ensemble precision |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [
            row["network"],
            f"{row['lr']}, {row['batch_size']}",
            f"{row['grid_val_dice']:.3f}",
            _pm(row, "folds_val_dice"),
            _pm(row, "held_out_dice"),
            _pm(row, "held_out_recall"),
            _pm(row, "held_out_precision"),
            *(f"{row.get(f'ensemble_held_out_{m}', math.nan):.3f}" for m in ("dice", "recall", "precision")),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    attention = next((r for r in rows if r["network"] == NAMES["attention_unet"]), None)
    if attention is not None and not quick:
        dice = attention.get("ensemble_held_out_dice", math.nan)
        precision = attention.get("ensemble_held_out_precision", math.nan)
        misses = [
            f"{name} missed by {target - value:.3f}"
            for name, value, target in (("Dice", dice, TARGET_DICE), ("precision", precision, TARGET_PRECISION))
            if not value >= target
        ]
        verdict = "; ".join(misses) if misses else "reached"
        lines += [
            "",
            f"Target: Attention U-Net ensemble Dice >= {TARGET_DICE:.2f} with precision >= {TARGET_PRECISION:.2f} "
            f"on the held-out crops: {verdict}.",
        ]
    lines += ["", "Grid heatmaps: `grid_heatmaps.png`; per-nodule sizes: `nodules.csv`; timings: `study.json`."]
    return "\n".join(lines) + "\n"


def write_heatmaps(path: Path, out: Path, networks: list[str]) -> None:
    """Both networks' grids side by side: best validation Dice per (lr, batch size)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.6 * len(networks), 3.6), dpi=100)
    FigureCanvasAgg(figure)
    for index, network in enumerate(networks, start=1):
        with (out / network / "grid" / "search_results.csv").open() as handle:
            rows = [r for r in csv.DictReader(handle) if r["state"] == "complete"]
        lrs = sorted({r["train.lr"] for r in rows}, key=float)
        batches = sorted({r["train.batch_size"] for r in rows}, key=int)
        scores = np.full((len(lrs), len(batches)), np.nan)
        for r in rows:
            scores[lrs.index(r["train.lr"]), batches.index(r["train.batch_size"])] = float(r["val_dice"])
        axes = figure.add_subplot(1, len(networks), index)
        image = axes.imshow(scores, cmap="viridis", vmin=0, vmax=1, aspect="auto")
        axes.set_xticks(range(len(batches)), batches)
        axes.set_yticks(range(len(lrs)), lrs)
        axes.set_xlabel("batch size")
        axes.set_ylabel("learning rate")
        axes.set_title(f"{NAMES.get(network, network)}: val Dice")
        for (i, j), value in np.ndenumerate(scores):
            if np.isfinite(value):
                axes.text(j, i, f"{value:.3f}", ha="center", va="center", color="black" if value > 0.5 else "white")
        figure.colorbar(image, ax=axes)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())


def held_out_predictions(
    out: Path, networks: list[str], config: Config, data: str, held_out: list[str]
) -> dict[str, list[tuple[Any, np.ndarray]]]:
    """Each network's fold ensemble on the held-out crops: ``{network: [(case, predicted mask)]}``."""
    cases = select(load_cases(config, data), held_out)
    predictions = {}
    for network in networks:
        predictor = load_predictor(out / network / "cv")
        predictions[network] = [(case, predictor.predict(case.image).mask > 0) for case in cases]
    return predictions


def size_rows(predictions: dict[str, list[tuple[Any, np.ndarray]]]) -> list[dict[str, Any]]:
    """Held-out precision, recall and Dice (per-crop means) of crops whose reference nodule is under /
    at least :data:`SMALL_NODULE_PX` pixels, per network."""
    rows = []
    for network, pairs in predictions.items():
        for name, small in (("small", True), ("large", False)):
            scores = [
                _overlap(case.mask > 0, mask)
                for case, mask in pairs
                if (int((case.mask > 0).sum()) < SMALL_NODULE_PX) == small
            ]
            row: dict[str, Any] = {"network": NAMES.get(network, network), "nodules": name, "crops": len(scores)}
            for index, metric in enumerate(("dice", "precision", "recall")):
                finite = [s[index] for s in scores if math.isfinite(s[index])]
                row[metric] = float(np.mean(finite)) if finite else math.nan
            rows.append(row)
    return rows


def _overlap(reference: np.ndarray, predicted: np.ndarray) -> tuple[float, float, float]:
    """Dice, precision and recall of one crop, as ``medseg evaluate`` scores it (NaN where undefined,
    e.g. the precision of an empty prediction)."""
    counts = confusion(predicted.astype(np.uint8), reference.astype(np.uint8), 1)
    return counts.dice, counts.precision, counts.recall


def nodule_rows(predictions: dict[str, list[tuple[Any, np.ndarray]]]) -> list[dict]:
    """Every nodule the fold ensembles predict on the held-out crops, with the reference nodule's size.

    A crop where nothing is predicted gets one row with ``nodule`` 0 and empty predicted sizes.
    """
    rows = []
    for network, pairs in predictions.items():
        for case, mask in pairs:
            spacing = known_spacing(case)
            unit = size_unit(spacing)
            reference = measure_nodules(case.mask > 0, spacing)
            ref = reference[0] if reference else {}
            predicted = measure_nodules(mask, spacing) or [{"nodule": 0}]
            for nodule in predicted:
                rows.append(
                    {
                        "network": NAMES.get(network, network),
                        "case": case.id,
                        "patient": case.group,
                        "nodule": nodule["nodule"],
                        **{
                            key: nodule.get(key, math.nan)
                            for key in (f"area_{unit}2", f"diameter_{unit}", f"equivalent_diameter_{unit}")
                        },
                        f"ref_area_{unit}2": ref.get(f"area_{unit}2", math.nan),
                        f"ref_diameter_{unit}": ref.get(f"diameter_{unit}", math.nan),
                    }
                )
    return rows


def size_table(rows: list[dict[str, Any]]) -> str:
    """The held-out scores by nodule size as Markdown lines."""
    lines = [
        "",
        f"Held-out ensembles by reference nodule size (under / at least {SMALL_NODULE_PX} pixels), per-crop means:",
        "",
        "| network | nodules | crops | Dice | precision | recall |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        size = f"< {SMALL_NODULE_PX} px" if row["nodules"] == "small" else f">= {SMALL_NODULE_PX} px"
        cells = [row["network"], size, str(row["crops"]), *(f"{row[m]:.3f}" for m in ("dice", "precision", "recall"))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_lung_report(
    out: Path, results: list[dict], config: Config, data: str | Path, held_out: list[str], quick: bool
) -> Path:
    """Writes ``table.md``, ``table.csv``, ``table_by_size.csv``, ``grid_heatmaps.png`` and ``nodules.csv``;
    returns ``table.md``."""
    rows = comparison_rows(results)
    write_table(out / "table.csv", rows)
    networks = [r["network"] for r in results]
    write_heatmaps(out / "grid_heatmaps.png", out, networks)
    predictions = held_out_predictions(out, networks, config, str(data), held_out)
    write_table(out / "nodules.csv", nodule_rows(predictions))
    by_size = size_rows(predictions)
    write_table(out / "table_by_size.csv", by_size)
    path = out / "table.md"
    atomic_write_text(path, markdown_table(rows, len(held_out), str(data), quick) + size_table(by_size))
    return path
