"""Runs side by side: size, cost, training time, headline metrics, paired per-case wins.

Written as one HTML page plus the same table as CSV and Markdown (for READMEs). A search
directory (``trial_NNN/`` runs, ``search_heatmap.png``) expands to its trials.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

from medseg.config import DataConfig
from medseg.errors import RunDirError
from medseg.io import atomic_write_text, write_table
from medseg.reports import figures
from medseg.reports.html import data_uri, format_number, render
from medseg.reports.rundata import RunFiles, column, primary_metric, read_csv, read_json, read_run, split_metric
from medseg.run_folder import RunFolder

HEADLINE = ("dice_", "iou_", "hd_mm_", "hd_px_", "hc_absdiff_mm", "hc_diff_mm", "pixel_accuracy", "volume")


def checkpoint_dir(run_dir: Path) -> Path | None:
    """The folder whose ``checkpoints/`` holds the run's model (``fold_0`` or ``member_0`` of an ensemble)."""
    run = RunFolder(run_dir)
    if run.has_checkpoints:
        return run_dir
    members = run.members(trained=True)
    return members[0].root if members else None


def input_size(config: dict[str, Any], state: dict[str, Any]) -> tuple[int, int]:
    """The network input ``(H, W)`` of a run: its ``config.yaml``'s ``data.image_size``, else the one
    the checkpoint was trained with, else the configuration's default."""
    for source in (config, state.get("config")):
        data = source.get("data") if isinstance(source, dict) else None
        size = data.get("image_size") if isinstance(data, dict) else None
        if isinstance(size, list | tuple) and len(size) == 2:
            return int(size[0]), int(size[1])
    default = DataConfig().image_size
    return int(default[0]), int(default[1])


def model_facts(run_dir: str | Path, config: dict[str, Any]) -> dict[str, Any]:
    """Trainable parameters, and GFLOPs of one forward pass at the config's input size (``HxW``).

    Read from ``checkpoints/best.pt`` (or ``last.pt``); ``{}`` when the run has no checkpoint.
    FLOPs: :func:`medseg.models.profile.count_flops` (2 x multiply-accumulates, batch 1).
    """
    import torch

    from medseg.models import count_parameters
    from medseg.models.checkpoint import load_checkpoint, model_from_checkpoint
    from medseg.models.profile import count_flops

    folder = checkpoint_dir(Path(run_dir))
    if folder is None:
        return {}
    path = next((p for p in (RunFolder(folder).best, RunFolder(folder).last) if p.is_file()), None)
    if path is None:
        return {}
    state = load_checkpoint(path)
    model = model_from_checkpoint(state)
    size = input_size(config, state)
    image = torch.zeros(1, int(state["model"]["in_channels"]), *size)
    return {
        "parameters": count_parameters(model),
        "input": f"{size[0]}x{size[1]}",
        "GFLOPs": count_flops(model, image) / 1e9,
    }


@dataclass
class Entry:
    """One compared run."""

    label: str
    run: RunFiles
    facts: dict[str, Any]
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)


def expand_runs(run_dirs: list[Path]) -> tuple[list[Path], list[Path]]:
    """Run directories to compare and the search directories among the arguments.

    A search directory (``search_summary.json`` or ``trial_*/`` runs, no ``run.json``) stands for its trials.

    Raises:
        RunDirError: a path that is not a directory.
    """
    runs, searches = [], []
    for path in run_dirs:
        if not path.is_dir():
            raise RunDirError(f"{path}: run directory not found")
        trials = sorted(p for p in path.glob("trial_*") if p.is_dir())
        if trials and not RunFolder(path).run_info.is_file():
            searches.append(path)
            runs.extend(trials)
        else:
            runs.append(path)
    return runs, searches


def _labels(paths: list[Path]) -> list[str]:
    labels = [p.name for p in paths]
    if len(set(labels)) < len(labels):
        labels = [f"{p.parent.name}/{p.name}" for p in paths]
    if len(set(labels)) < len(labels):
        labels = [f"{i}:{label}" for i, label in enumerate(labels, start=1)]
    return labels


def common_split(runs: list[RunFiles], split: str | None) -> str | None:
    """``split`` if given, else the first of test/val/train/all that every run evaluated (else any)."""
    if split is not None:
        return split
    for name in ("test", "val", "train", "all"):
        if runs and all(name in r.evaluations for r in runs):
            return name
    for name in ("test", "val", "train", "all"):
        if any(name in r.evaluations for r in runs):
            return name
    return None


def headline_keys(entries: list[Entry]) -> list[str]:
    """Headline metric keys present in any run, foreground classes only, in first-seen order."""
    keys: dict[str, None] = {}
    for entry in entries:
        for key in entry.metrics:
            metric, name = split_metric(key, entry.run.class_names)
            if key.startswith(HEADLINE) and name != "background" and "_ref" not in key:
                keys[key] = None
    return list(keys)


def table_rows(entries: list[Entry], keys: list[str]) -> list[dict[str, Any]]:
    """The comparison table: one row per run; each metric as ``<key>`` (mean) and ``<key>_sd``."""
    fact_keys = list(dict.fromkeys(k for e in entries for k in e.facts))
    rows = []
    for entry in entries:
        result = entry.run.info.get("result") or {}
        monitor = entry.run.config.get("train", {}).get("monitor", "score")
        row: dict[str, Any] = {"run": entry.label, "model": entry.run.config.get("model", {}).get("name", "")}
        row.update({k: entry.facts.get(k, math.nan) for k in fact_keys})
        row["train_min"] = entry.run.train_seconds / 60
        row["epochs"] = result.get("epochs_run", "")
        row["best_val"] = f"{monitor} {format_number(result.get('best_score'))}" if result else ""
        for key in keys:
            stats = entry.metrics.get(key, {})
            row[key] = stats.get("mean", math.nan)
            row[f"{key}_sd"] = stats.get("std", math.nan)
        rows.append(row)
    return rows


def mean_sd(mean: Any, sd: Any) -> str:
    """``0.9312 ± 0.041``; a dash when the mean is missing, the mean alone when the sd is."""
    if not isinstance(mean, int | float) or not math.isfinite(mean):
        return "–"
    if not isinstance(sd, int | float) or not math.isfinite(sd):
        return format_number(mean)
    return f"{format_number(mean)} ± {format_number(sd, 2)}"


def markdown_table(rows: list[dict[str, Any]], keys: list[str]) -> str:
    """A Markdown table of the comparison: metrics as ``mean ± sd``."""
    plain = [k for k in rows[0] if k not in keys and not k.endswith("_sd")] if rows else []
    header = plain + keys
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        cells = [str(row[k]) if isinstance(row[k], str) else format_number(row[k]) for k in plain]
        cells += [mean_sd(row[k], row[f"{k}_sd"]) for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def paired(entries: list[Entry], split: str) -> tuple[list[dict[str, Any]], str | None, str | None]:
    """Per-case comparison on the cases every pair shares (joined on ``id``).

    Returns:
        One row per pair (``a``, ``b``, ``n``, wins of each, ties, mean difference a - b and the
        Wilcoxon signed-rank p), the scatter plot's data URI, and the metric used.
    """
    with_cases = [e for e in entries if split in e.run.evaluations and e.run.evaluations[split].rows]
    if len(with_cases) < 2:
        return [], None, None
    metric = primary_metric(list(with_cases[0].run.evaluations[split].rows[0]), with_cases[0].run.class_names)
    if metric is None:
        return [], None, None
    scores = {
        e.label: {
            r["id"]: s
            for r, s in zip(e.run.evaluations[split].rows, column(e.run.evaluations[split].rows, metric), strict=True)
        }
        for e in with_cases
    }
    rows, pairs = [], []
    for a, b in itertools.combinations([e.label for e in with_cases], 2):
        ids = [i for i in scores[a] if i in scores[b] and math.isfinite(scores[a][i]) and math.isfinite(scores[b][i])]
        if not ids:
            continue
        x, y = np.array([scores[a][i] for i in ids]), np.array([scores[b][i] for i in ids])
        diff = x - y
        p = math.nan
        if np.any(diff != 0) and len(ids) > 1:
            p = float(scipy_stats.wilcoxon(x, y, zero_method="wilcox").pvalue)
        rows.append(
            {
                "a": a,
                "b": b,
                "cases": len(ids),
                "a wins": int((diff > 0).sum()),
                "b wins": int((diff < 0).sum()),
                "ties": int((diff == 0).sum()),
                "mean a - b": float(diff.mean()),
                "Wilcoxon p": p,
                "a wins on": ", ".join(i for i, d in zip(ids, diff, strict=True) if d > 0)[:300],
            }
        )
        pairs.append((a, b, x, y))
    plot = data_uri(figures.paired_scatter(pairs[:9], metric)) if pairs else None
    return rows, plot, metric


def build_comparison(run_dirs: list[str | Path], split: str | None = None) -> dict[str, Any]:
    """Reads the runs and computes everything the comparison shows (see :func:`write_comparison`)."""
    paths, searches = expand_runs([Path(p) for p in run_dirs])
    if not paths:
        raise RunDirError(f"{', '.join(map(str, run_dirs))}: no runs to compare")
    runs = [read_run(p) for p in paths]
    split = common_split(runs, split)
    entries = []
    for label, run in zip(_labels(paths), runs, strict=True):
        metrics = run.evaluations[split].summary if split in run.evaluations else {}
        entries.append(Entry(label, run, model_facts(run.run_dir, run.config), metrics))
    keys = headline_keys(entries)
    rows = table_rows(entries, keys)
    pair_rows, pair_plot, pair_metric = paired(entries, split) if split else ([], None, None)
    search_blocks = []
    for folder in searches:
        heatmap = folder / "search_heatmap.png"
        summary = read_json(folder / "search_summary.json") or {}
        search_blocks.append(
            {
                "name": str(folder),
                "heatmap": data_uri(heatmap.read_bytes()) if heatmap.is_file() else None,
                "rows": read_csv(folder / "search_results.csv"),
                "best": summary.get("best", {}),
            }
        )
    return {
        "split": split,
        "keys": keys,
        "rows": rows,
        "pairs": pair_rows,
        "pair_plot": pair_plot,
        "pair_metric": pair_metric,
        "searches": search_blocks,
    }


def write_comparison(run_dirs: list[str | Path], out: str | Path, split: str | None = None) -> list[Path]:
    """Writes ``out`` (HTML) and the same table as ``out`` with ``.csv`` and ``.md`` suffixes.

    Args:
        run_dirs: run, cross-validation or search directories.
        out: the HTML file to write.
        split: which evaluation to compare (default: one every run has, test first).

    Returns:
        The three paths written.

    Raises:
        RunDirError: a missing or damaged run directory.
    """
    out = Path(out)
    data = build_comparison(run_dirs, split)
    keys, rows = data["keys"], data["rows"]
    columns = [k for k in rows[0] if not k.endswith("_sd")]
    html_rows = [{**row, **{k: mean_sd(row[k], row[f"{k}_sd"]) for k in keys}} for row in rows]
    search_columns = [[c for c in block["rows"][0]] if block["rows"] else [] for block in data["searches"]]
    html = render(
        "compare.html.j2",
        title=f"medseg comparison: {len(rows)} runs",
        subtitle=f"evaluation split: {data['split'] or 'none'} · written {time.strftime('%Y-%m-%d %H:%M')}",
        columns=columns,
        text_columns=["run", "model", "input", "best_val", *keys],
        rows=html_rows,
        split=data["split"],
        pairs=data["pairs"],
        pair_plot=data["pair_plot"],
        pair_metric=data["pair_metric"],
        searches=list(zip(data["searches"], search_columns, strict=True)),
    )
    csv_path, md_path = out.with_suffix(".csv"), out.with_suffix(".md")
    atomic_write_text(out, html)
    write_table(csv_path, rows)
    atomic_write_text(md_path, markdown_table(rows, keys))
    return [out, csv_path, md_path]
