"""A training process killed with SIGKILL resumes to the same end as an uninterrupted run."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import torch

from medseg.config import load_config
from medseg.experiments.train import train_run
from medseg.models.checkpoint import load_checkpoint

from ..conftest import TINY

EPOCHS = 8
OVERRIDES = TINY + [f"train.epochs={EPOCHS}", "train.iterations_per_epoch=12"]


def epochs_in_history(run_dir) -> list[int]:
    path = run_dir / "history.csv"
    if not path.is_file():
        return []
    with path.open() as handle:
        return [int(r["epoch"]) for r in csv.DictReader(handle) if r["level"] == "epoch" and r["phase"] == "train"]


def check_files_whole(run_dir) -> None:
    """Every file of the run parses (atomic writes): CSV, JSON, YAML, checkpoints."""
    for path in run_dir.rglob("*"):
        if path.name.endswith(".tmp") or not path.is_file():
            continue
        if path.suffix == ".csv":
            with path.open() as handle:
                rows = list(csv.DictReader(handle))
            assert rows and all(None not in row for row in rows), path
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".yaml":
            load_config(path)
        elif path.suffix == ".pt":
            assert "state_dict" in load_checkpoint(path), path


def medseg(*args: str) -> list[str]:
    return [sys.executable, "-m", "medseg", *args]


def test_sigkill_then_resume_finishes_like_an_uninterrupted_run(fetal_data, tmp_path):
    run_dir = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    train = medseg("train", "demo", "--data", str(fetal_data), "--out", str(run_dir), *OVERRIDES)
    with (tmp_path / "first.log").open("w") as log:
        process = subprocess.Popen(train, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 120
        while len(epochs_in_history(run_dir)) < 2 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, (tmp_path / "first.log").read_text()[-2000:]
    killed_at = load_checkpoint(run_dir / "checkpoints" / "last.pt")["epoch"]
    assert 1 <= killed_at < EPOCHS
    check_files_whole(run_dir)

    resume = medseg("train", "demo", "--data", str(fetal_data), "--out", str(run_dir), "--resume")
    done = subprocess.run(resume, capture_output=True, text=True, timeout=180, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"resuming from epoch {killed_at}" in done.stderr

    assert not list(run_dir.rglob("*.tmp"))
    check_files_whole(run_dir)
    final = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert final["epoch"] == EPOCHS
    assert epochs_in_history(run_dir) == list(range(1, EPOCHS + 1))  # each epoch once
    info = json.loads((run_dir / "run.json").read_text())
    assert info["result"]["epochs_run"] == EPOCHS

    # the same run without interruption ends with the same weights (restored RNG and data order)
    reference = tmp_path / "reference"
    train_run(load_config("demo", OVERRIDES), fetal_data, reference)
    expected = load_checkpoint(reference / "checkpoints" / "last.pt")["state_dict"]
    assert all(torch.allclose(final["state_dict"][k], expected[k], atol=1e-6) for k in expected)
