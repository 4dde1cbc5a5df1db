"""Reading what a run directory holds into plain values for the reports (no model, no data).

A run directory (see :mod:`medseg.experiments.train`): ``config.yaml``, ``run.json``,
``split.json``, ``history.csv``, ``checkpoints/``, ``evaluation/<split>/{per_case.csv,
metrics.json, overlays/}``. A cross-validation directory adds ``cv.json``, ``cv_summary.json``
and ``fold_K/`` run directories.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from medseg.config import safe_yaml
from medseg.data.splits import check_split
from medseg.errors import RunDirError
from medseg.run_folder import EvaluationFolder, RunFolder

UNITS = ("mm", "ml", "mm2", "mm3", "cm3", "px", "px2", "percent")
REF_TOKENS = ("ref", "reference")
PRED_TOKENS = ("pred", "prediction", "predicted")
SLICE_ID = re.compile(r"^(?P<volume>.+)_z(?P<index>\d+)$")


def read_json(path: Path) -> Any:
    """Parsed JSON; ``None`` when the file is absent.

    Raises:
        RunDirError: unreadable or not JSON.
    """
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{path}: not readable as JSON ({exc})") from None


def read_yaml(path: Path) -> Any:
    """Parsed YAML; ``None`` when the file is absent.

    Raises:
        RunDirError: unreadable or not YAML.
    """
    if not path.is_file():
        return None
    try:
        return safe_yaml(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RunDirError(f"{path}: not readable as YAML ({exc})") from None


def read_csv(path: Path) -> list[dict[str, str]]:
    """CSV rows as dicts of strings; ``[]`` when the file is absent.

    Raises:
        RunDirError: unreadable, or a row with more fields than the header.
    """
    if not path.is_file():
        return []
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise RunDirError(f"{path}: not readable as CSV ({exc})") from None
    for number, row in enumerate(rows, start=2):
        if None in row:
            raise RunDirError(f"{path}: line {number} has more fields than the header")
    return rows


def column(rows: Sequence[dict[str, Any]], key: str) -> np.ndarray:
    """``(N,)`` float64 of one column; empty or non-numeric cells are NaN."""
    values = []
    for row in rows:
        try:
            values.append(float(row.get(key, "")))
        except (TypeError, ValueError):
            values.append(math.nan)
    return np.array(values, dtype=np.float64)


@dataclass(frozen=True)
class EvaluationOptions:
    """``evaluation/<split>/options.json``: how an evaluation's numbers were predicted."""

    checkpoint: str = "best"
    tta: bool = False  # the horizontal flip averaged in
    scales: tuple[float, ...] = (1.0,)

    @classmethod
    def read(cls, path: Path) -> EvaluationOptions | None:
        """The options in ``path``; ``None`` when it is absent.

        Raises:
            RunDirError: unreadable, or not the shape ``medseg evaluate`` writes.
        """
        data = read_json(path)
        if data is None:
            return None
        try:
            return cls(str(data.get("checkpoint", "best")), bool(data.get("tta")), tuple(map(float, data["scales"])))
        except (AttributeError, KeyError, TypeError, ValueError):
            raise RunDirError(f"{path}: expected checkpoint, tta and scales, found {repr(data)[:60]}") from None

    @property
    def one_view(self) -> bool:
        """One view at one scale: how a model predicts without --tta or --scales."""
        return not self.tta and self.scales == (1.0,)

    def describe(self) -> str:
        views = "the image and its horizontal flip, averaged" if self.tta else "one view"
        scales = ", ".join(f"{s:g}" for s in self.scales)
        return f"the {self.checkpoint} checkpoint; {views}; " + (
            "scale 1" if self.scales == (1.0,) else f"input scales {scales}, averaged"
        )


@dataclass
class Evaluation:
    """One ``evaluation/<split>`` folder."""

    split: str
    folder: Path
    rows: list[dict[str, str]]
    summary: dict[str, dict[str, float]]
    tables: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # other CSVs (e.g. per volume)
    options: EvaluationOptions | None = None  # None: an evaluation that did not record them

    @property
    def predicted_with(self) -> str:
        """How the numbers were predicted, in words; empty for an evaluation that did not record it."""
        return self.options.describe() if self.options else ""

    def overlay(self, case_id: str) -> list[Path]:
        """Saved overlay PNG(s) of a case: ``overlays/<id>.png`` or the slices in ``overlays/<id>/``."""
        files = EvaluationFolder(self.folder)
        single = files.overlay(case_id)
        if single.is_file():
            return [single]
        folder = files.overlays / case_id
        return sorted(folder.glob("*.png")) if folder.is_dir() else []


@dataclass
class RunFiles:
    """Everything a report shows of one run (or cross-validation) directory."""

    run_dir: Path
    config: dict[str, Any]
    info: dict[str, Any]
    split: dict[str, list[str]]
    history: list[dict[str, str]]
    evaluations: dict[str, Evaluation]
    cv: dict[str, Any] | None = None
    cv_rows: list[dict[str, str]] = field(default_factory=list)
    folds: list[RunFiles] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.run_dir.name

    @property
    def class_names(self) -> list[str]:
        return list(self.config.get("data", {}).get("class_names") or [])

    @property
    def foreground(self) -> list[str]:
        return self.class_names[1:]

    @property
    def train_seconds(self) -> float:
        """Training time from ``run.json`` (summed over folds for cross-validation); NaN if unknown."""
        if self.folds:
            return float(sum(f.train_seconds for f in self.folds))
        result = self.info.get("result") or {}
        return float(result.get("train_seconds", math.nan))


def read_evaluation(folder: Path) -> Evaluation | None:
    """``per_case.csv``, ``metrics.json`` and any other CSV of an evaluation folder; ``None`` if empty."""
    files = EvaluationFolder(folder)
    rows = read_csv(files.per_case)
    summary = read_json(files.metrics)
    summary = {} if summary is None else check_summary(summary, files.metrics)
    if not rows and not summary:
        return None
    tables = {p.stem: read_csv(p) for p in sorted(folder.glob("*.csv")) if p != files.per_case}
    return Evaluation(folder.name, folder, rows, summary, tables, EvaluationOptions.read(files.options))


def check_summary(data: Any, path: Path) -> dict[str, dict[str, float]]:
    """``data`` when it has the shape ``metrics.json`` is written in: ``{"dice": {"mean": 0.9, ...}}``.

    Raises:
        RunDirError: naming ``path`` and the first entry of the wrong kind.
    """
    if not isinstance(data, dict):
        raise RunDirError(f"{path}: expected a mapping of metric names to statistics, found a {type(data).__name__}")
    for key, stats in data.items():
        numbers = isinstance(stats, dict) and all(
            v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in stats.values()
        )
        if not numbers:
            found = repr(stats)[:60]
            raise RunDirError(f"{path}: {key!r} must map statistics (mean, std, median, n) to numbers, found {found}")
    return data


def read_run(run_dir: str | Path) -> RunFiles:
    """Reads a run or cross-validation directory.

    Raises:
        RunDirError: not a directory, or neither ``config.yaml`` nor ``run.json`` in it, or a
            damaged file (named in the message).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: run directory not found")
    files = RunFolder(run_dir)
    config = read_yaml(files.config)
    info = read_json(files.run_info)
    if config is None and info is None:
        raise RunDirError(f"{run_dir}: not a run directory (no {files.config.name} or {files.run_info.name})")
    if config is not None and not isinstance(config, dict):
        raise RunDirError(f"{files.config}: expected a mapping of sections")
    split = read_json(files.split)
    split = {} if split is None else check_split(split, files.split)
    evaluations = {}
    for found in files.evaluations:
        evaluation = read_evaluation(found.root)
        if evaluation is not None:
            evaluations[found.root.name] = evaluation
    run = RunFiles(run_dir, config or {}, info or {}, split, read_csv(files.history), evaluations)
    if files.cv_info.is_file():
        run.cv = read_json(files.cv_info)
        run.cv_rows = read_csv(files.cv_results)
        run.folds = [read_run(fold.root) for fold in files.folds()]
    return run


def split_metric(key: str, class_names: list[str]) -> tuple[str, str]:
    """``dice_head`` -> ``("dice", "head")``; keys without a class -> ``(key, "")``."""
    for name in sorted(class_names, key=len, reverse=True):
        if key.endswith(f"_{name}"):
            return key[: -len(name) - 1], name
    return key, ""


def interval_text(stats: dict[str, float]) -> str:
    """``low to high``: a summary entry's 95% confidence interval of the mean; empty without one (a summary
    saved before intervals, or fewer than ``MIN_INTERVAL_SUBJECTS`` subjects)."""
    low, high = stats.get("ci95_low"), stats.get("ci95_high")
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return ""
    return f"{low:.4f} to {high:.4f}"


def metric_table(summary: dict[str, dict[str, float]], class_names: list[str]) -> list[dict[str, Any]]:
    """Rows ``class, metric, mean, 95% CI, sd, median, n`` from a ``metrics.json`` summary, grouped by class."""
    rows = []
    for key, stats in summary.items():
        metric, name = split_metric(key, class_names)
        rows.append(
            {
                "class": name,
                "metric": metric,
                "mean": stats.get("mean"),
                "95% CI of the mean": interval_text(stats),
                "sd": stats.get("std", stats.get("sd")),
                "median": stats.get("median"),
                "n": stats.get("n"),
                "infinite": stats.get("n_infinite") or "",
            }
        )
    order = {name: i for i, name in enumerate(class_names)}
    rows.sort(key=lambda r: (order.get(r["class"], len(order)), r["class"]))
    return rows


@dataclass(frozen=True)
class MeasurementPair:
    """A predicted measurement column and its reference column, e.g. ``hc_mm`` / ``hc_ref_mm``."""

    name: str  # e.g. "hc", "volume_liver"
    unit: str
    predicted: str
    reference: str


def measurement_pairs(columns: list[str]) -> list[MeasurementPair]:
    """Finds predicted/reference column pairs by name.

    A reference column has a ``ref``/``reference`` token (``_``-separated); its predicted partner
    is the same name with that token replaced by ``pred``/``prediction``/``predicted`` or removed:
    ``hc_ref_mm`` + ``hc_mm``, ``volume_ml_ref_liver`` + ``volume_ml_pred_liver``,
    ``ref_volume_ml`` + ``pred_volume_ml``. The unit is the name's first token in :data:`UNITS`
    (``"mm"``, ``"ml"``, ...; ``""`` when none). Difference columns (a ``diff`` token) never pair.
    """
    present = set(columns)
    pairs = []
    for reference in columns:
        tokens = reference.split("_")
        spots = [i for i, token in enumerate(tokens) if token in REF_TOKENS]
        if not spots or any("diff" in token for token in tokens):
            continue
        i = spots[0]
        candidates = ["_".join(tokens[:i] + [p] + tokens[i + 1 :]) for p in PRED_TOKENS]
        candidates.append("_".join(tokens[:i] + tokens[i + 1 :]))
        predicted = next((c for c in candidates if c in present and c != reference), None)
        if predicted is None:
            continue
        rest = [t for j, t in enumerate(tokens) if j != i]
        unit = next((t for t in rest if t in UNITS), "")
        name = "_".join(t for t in rest if t != unit) or reference
        pairs.append(MeasurementPair(name, unit, predicted, reference))
    return pairs


def volume_slices(ids: list[str]) -> dict[str, list[tuple[int, str]]]:
    """Groups slice ids ``<volume>_zKKK`` by volume: ``{volume: [(K, id), ...]}`` sorted by ``K``.

    Only volumes with at least two slices count; ids of other shapes are left out.
    """
    groups: dict[str, list[tuple[int, str]]] = {}
    for case_id in ids:
        match = SLICE_ID.match(case_id)
        if match:
            groups.setdefault(match["volume"], []).append((int(match["index"]), case_id))
    return {k: sorted(v) for k, v in groups.items() if len(v) > 1}


def primary_metric(columns: list[str], class_names: list[str]) -> str | None:
    """The column that ranks cases: Dice of the first foreground class (or any ``dice_*``)."""
    for name in class_names[1:]:
        if f"dice_{name}" in columns:
            return f"dice_{name}"
    return next((c for c in columns if c.startswith("dice_") and c != "dice_background"), None)
