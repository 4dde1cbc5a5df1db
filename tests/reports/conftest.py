"""A copy of the session's tiny run with an evaluation of its test split, and a hand-made one."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from medseg.data.io import write_png


@pytest.fixture(scope="session")
def evaluated_run(tiny_run: Path, hc18_synthetic: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tiny_run`` copied (checkpoints, history, split) and evaluated on its test split."""
    from medseg.data.loading import load_cases
    from medseg.data.splits import load_split, select
    from medseg.experiments.evaluate import evaluate_cases
    from medseg.inference import Predictor

    run_dir = tmp_path_factory.mktemp("reports") / "tiny"
    shutil.copytree(tiny_run, run_dir, ignore=shutil.ignore_patterns("evaluation", "tensorboard", "*.html"))
    predictor = Predictor.from_run(run_dir)
    cases = select(load_cases(predictor.config, hc18_synthetic), load_split(run_dir / "split.json")["test"])
    evaluate_cases(predictor, cases, run_dir / "evaluation" / "test")
    return run_dir


def write_rows(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def make_run(root: Path, rows: list[dict], class_names: list[str], overlays: bool = True) -> Path:
    """A run directory with config, run.json, a 2-epoch history and ``evaluation/test`` from ``rows``."""
    from medseg.metrics import summarize

    root.mkdir(parents=True)
    config = {"data": {"class_names": class_names, "image_size": [32, 32]}, "model": {"name": "unet"}, "train": {}}
    (root / "config.yaml").write_text(json.dumps(config))
    (root / "run.json").write_text(json.dumps({"result": {"best_score": 0.8, "best_epoch": 2, "epochs_run": 2}}))
    history = [
        {"level": level, "phase": phase, "epoch": e, "iteration": 2 * e, "loss": 1 / e, "dice": 0.4 * e, "lr": 1e-3}
        for e in (1, 2)
        for level, phase in (("epoch", "train"), ("epoch", "val"))
    ]
    write_rows(root / "history.csv", history)
    folder = root / "evaluation" / "test"
    write_rows(folder / "per_case.csv", rows)
    numeric = [{k: float(v) for k, v in row.items() if k != "id"} for row in rows]
    (folder / "metrics.json").write_text(json.dumps(summarize(numeric)))
    if overlays:
        rng = np.random.default_rng(0)
        for row in rows:
            write_png(folder / "overlays" / f"{row['id']}.png", rng.integers(0, 255, (24, 32, 3), dtype=np.uint8))
    return root
