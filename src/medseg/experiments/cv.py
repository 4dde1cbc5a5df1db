"""K-fold cross-validation: one training run per fold, per-fold and mean +/- sd results.

Layout of a cross-validation directory ``DIR``::

    DIR/config.yaml        the base config (with the monitored metric)
    DIR/split.json         {"train": ids used by the folds, "test": the fixed test ids (may be empty)}
    DIR/cv.json            folds, test fraction, seed, the fold splits' sizes
    DIR/fold_K/            a normal run directory (config, split, history, checkpoints, evaluation/val, evaluation/test)
    DIR/cv_results.csv     one row per fold, then "mean" and "sd" rows
    DIR/cv_summary.json    per metric: mean, sd (over folds, ddof=1), n, per_fold; plus the ensemble's test scores
    DIR/evaluation/test/   the fold models as an ensemble on the test set (when there is one)

The folds are patient/subject-grouped (:func:`medseg.data.splits.kfold_splits`). ``DIR`` works
with ``medseg predict DIR`` and ``medseg evaluate DIR --split test``: the fold models' averaged
probabilities (:func:`medseg.inference.load_predictor`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medseg.config import Config, load_config, save_config
from medseg.data.case import Case
from medseg.data.loading import load_cases
from medseg.data.splits import Split, kfold_splits, save_split, select
from medseg.errors import ConfigError, RunDirError
from medseg.experiments.evaluate import HEADLINE, evaluate_cases
from medseg.experiments.report import write_report
from medseg.experiments.rundir import OutputDir
from medseg.experiments.train import one_network_only, train_run
from medseg.inference import Predictor, load_predictor
from medseg.io import atomic_write_text, json_safe, write_table
from medseg.logs import log
from medseg.run_folder import RunFolder
from medseg.training.distributed import env_context


@dataclass
class CVResult:
    """Per-fold rows (as in ``cv_results.csv``) and the summary (as in ``cv_summary.json``)."""

    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    out_dir: Path


def single_process_only(command: str) -> None:
    """Refuses to run under ``torchrun`` (the command trains several runs one after another).

    Raises:
        ConfigError: started with ``WORLD_SIZE > 1``.
    """
    if env_context().distributed:
        raise ConfigError(f"medseg {command} runs in one process; start it without torchrun")


def headline_means(summary: dict[str, dict[str, float]], prefix: str) -> dict[str, float]:
    """``{prefix + metric: mean}`` for the headline metrics of an evaluation summary."""
    return {f"{prefix}{key}": stats["mean"] for key, stats in summary.items() if key.startswith(HEADLINE)}


def _fold_finished(fold_dir: Path) -> dict[str, Any] | None:
    path = RunFolder(fold_dir).run_info
    if not path.is_file():
        return None
    return json.loads(path.read_text()).get("result")


def _mean_sd(values: list[float]) -> tuple[float, float, int]:
    finite = np.array([v for v in values if isinstance(v, int | float) and math.isfinite(v)], dtype=np.float64)
    if finite.size == 0:
        return math.nan, math.nan, 0
    sd = float(finite.std(ddof=1)) if finite.size > 1 else math.nan
    return float(finite.mean()), sd, int(finite.size)


def cross_validate(
    config: Config,
    data_path: str | Path,
    out_dir: str | Path,
    folds: int = 4,
    test_fraction: float | None = None,
    monitor: str | None = "val_loss",
    overwrite: bool = False,
    resume: bool = False,
    cases: list[Case] | None = None,
) -> CVResult:
    """Trains one model per fold into ``out_dir/fold_K`` and evaluates each on its validation fold.

    Args:
        config: base config; ``data.split_seed`` seeds the fold assignment.
        data_path: dataset root.
        out_dir: the cross-validation directory (layout in the module docstring).
        folds: number of folds (>= 2).
        test_fraction: fraction of subjects held out as a fixed test set (``None``: ``config.data.test_fraction``).
        monitor: the metric that picks each fold's best checkpoint; ``"val_loss"`` (the lung
            study kept the lowest validation loss per fold); ``None`` keeps ``config.train.monitor``.
        overwrite: replace an existing ``out_dir``.
        resume: continue ``out_dir``: finished folds are kept, an interrupted one resumes from its
            last checkpoint, missing ones are trained (the saved base config is used).
        cases: the dataset's cases, if already read.

    Returns:
        Per-fold rows and the summary, also written to ``cv_results.csv`` and ``cv_summary.json``.

    Raises:
        RunDirError: ``out_dir`` not empty (without ``overwrite``/``resume``).
        DataError: too few subjects for the folds.
    """
    single_process_only("cv")
    one_network_only(config, "medseg cv")
    out_dir = Path(out_dir)
    if folds < 2:
        raise ConfigError(f"--folds must be at least 2, got {folds}")
    output = OutputDir.plan(out_dir, "cv", [data_path], overwrite, resume)
    if resume:
        run = RunFolder(out_dir)
        if not run.config.is_file() or not run.cv_info.is_file():
            raise RunDirError(
                f"{out_dir}: nothing to resume (no {run.config.name} and {run.cv_info.name} of a cross-validation)"
            )
        config = load_config(run.config)
        saved = json.loads(run.cv_info.read_text())
        folds, test_fraction = saved["folds"], saved["test_fraction"]
    else:
        if monitor is not None:
            config = dataclasses.replace(config, train=dataclasses.replace(config.train, monitor=monitor))
        test_fraction = config.data.test_fraction if test_fraction is None else test_fraction
        if not 0 <= test_fraction < 1:
            raise ConfigError(f"--test-fraction {test_fraction}: use a fraction in [0, 1)")
    cases = cases if cases is not None else load_cases(config, data_path)
    splits = kfold_splits(cases, folds, test_fraction, config.data.split_seed)
    with output.prepare():
        result = _cross_validate_into(output.work, config, data_path, cases, splits, folds, test_fraction, resume)
    result.out_dir = output.path
    return result


def _cross_validate_into(
    out_dir: Path,
    config: Config,
    data_path: str | Path,
    cases: list[Case],
    splits: list[Split],
    folds: int,
    test_fraction: float,
    resume: bool,
) -> CVResult:
    test_ids = splits[0]["test"]
    run = RunFolder(out_dir)
    if not resume:
        save_config(config, run.config)
        save_split({"train": splits[0]["train"] + splits[0]["val"], "test": test_ids}, run.split)
        info = {
            "folds": folds,
            "test_fraction": test_fraction,
            "split_seed": config.data.split_seed,
            "monitor": config.train.monitor,
            "data": str(Path(data_path).resolve()),
            "fold_sizes": [{k: len(v) for k, v in split.items()} for split in splits],
        }
        atomic_write_text(run.cv_info, json.dumps(info, indent=1))

    rows = []
    for k, split in enumerate(splits):
        fold_dir = run.fold(k).root
        log(f"fold {k + 1}/{folds}: {len(split['train'])} train, {len(split['val'])} val, {len(test_ids)} test")
        result = _fold_finished(fold_dir) if resume else None
        if result is None:
            can_resume = resume and run.fold(k).last.is_file()
            fit = train_run(
                config, data_path, fold_dir, overwrite=not can_resume, resume=can_resume, cases=cases, split=split
            )
            result = fit.__dict__
        rows.append(_evaluate_fold(k, fold_dir, cases, split, result, config.train.monitor))

    summary = _summarize(rows, config, folds, test_fraction)
    if test_ids:
        ensemble = load_predictor(out_dir)
        _, test_summary = evaluate_cases(ensemble, select(cases, test_ids), run.evaluation("test").root, False)
        summary["ensemble_test"] = headline_means(test_summary, "")
    table = rows + [
        {"fold": stat, **{key: summary["metrics"][key][stat] for key in summary["metrics"]}} for stat in ("mean", "sd")
    ]
    write_table(run.cv_results, table)
    atomic_write_text(run.cv_summary, json.dumps(json_safe(summary), indent=1))
    write_report(out_dir, data=data_path, cases=cases)
    return CVResult(rows, summary, out_dir)


def _evaluate_fold(
    k: int, fold_dir: Path, cases: list[Case], split: Split, result: dict[str, Any], monitor: str
) -> dict[str, Any]:
    predictor = Predictor.from_run(fold_dir, "best")
    row: dict[str, Any] = {
        "fold": k,
        f"best_{monitor}": float(result["best_score"]),
        "best_epoch": result["best_epoch"],
        "epochs_run": result["epochs_run"],
    }
    for name in ("val", "test"):
        if split[name]:
            out = RunFolder(fold_dir).evaluation(name).root
            _, summary = evaluate_cases(predictor, select(cases, split[name]), out, False)
            row.update(headline_means(summary, f"{name}_"))
    return row


def _summarize(rows: list[dict[str, Any]], config: Config, folds: int, test_fraction: float) -> dict[str, Any]:
    metrics = {}
    for key in rows[0]:
        if key in ("fold", "best_epoch", "epochs_run"):
            continue
        values = [row.get(key, math.nan) for row in rows]
        mean, sd, n = _mean_sd(values)
        metrics[key] = {"mean": mean, "sd": sd, "n": n, "per_fold": values}
    return {
        "folds": folds,
        "test_fraction": test_fraction,
        "monitor": config.train.monitor,
        "metrics": metrics,
    }
