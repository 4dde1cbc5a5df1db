"""A training run on disk: directory checks, data, split, config snapshot, then :func:`fit`."""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import torch

from medseg import __version__
from medseg.config import Config, load_config, save_config
from medseg.data.case import Case
from medseg.data.readers import read_dataset
from medseg.data.splits import Split, load_split, save_split, select, split_cases
from medseg.errors import RunDirError
from medseg.io import atomic_write_text
from medseg.training.callbacks import Callback
from medseg.training.distributed import barrier, training_session
from medseg.training.engine import FitResult, fit


def check_run_dir(run_dir: Path, overwrite: bool = False, resume: bool = False) -> None:
    """Checks, without changing anything, that a run may start (or resume) in ``run_dir``.

    Raises:
        RunDirError: nothing to resume, or the directory holds files and neither ``overwrite``
            nor ``resume`` was asked.
    """
    if resume:
        if not (run_dir / "checkpoints" / "last.pt").is_file():
            raise RunDirError(f"{run_dir}: nothing to resume (no checkpoints/last.pt)")
        return
    if run_dir.exists() and any(run_dir.iterdir()) and not overwrite:
        raise RunDirError(
            f"{run_dir}: run directory exists and is not empty; pass --overwrite to replace "
            "it or --resume to continue it"
        )


def prepare_run_dir(run_dir: Path, overwrite: bool = False, resume: bool = False) -> None:
    """Makes sure a run never silently replaces an earlier one.

    Raises:
        RunDirError: the directory holds files and neither ``overwrite`` nor ``resume`` was asked.
    """
    check_run_dir(run_dir, overwrite, resume)
    if resume:
        remove_stale_temporaries(run_dir)
        return
    if run_dir.exists() and any(run_dir.iterdir()):
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)


def remove_stale_temporaries(run_dir: Path) -> list[Path]:
    """Deletes the ``.<name>.*.tmp`` files of atomic writes that a killed process never renamed.

    Only call this when no other process writes into ``run_dir``.
    """
    stale = [p for p in run_dir.rglob(".*.tmp") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def code_version() -> dict[str, Any]:
    """medseg version and, when run from a git checkout, its commit."""
    info: dict[str, Any] = {"medseg": __version__, "torch": torch.__version__, "python": platform.python_version()}
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        if commit.returncode == 0:
            info["git_commit"] = commit.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def load_cases(config: Config, data_path: str | Path) -> list[Case]:
    """Reads the labelled cases of a dataset with the reader named by ``config.data.layout``."""
    return read_dataset(config.data.layout, data_path, **config.data.reader)


def train_run(
    config: Config,
    data_path: str | Path,
    run_dir: str | Path,
    overwrite: bool = False,
    resume: bool = False,
    cases: list[Case] | None = None,
    split: Split | None = None,
    callbacks: list[Callback] | None = None,
) -> FitResult:
    """Trains a model into ``run_dir`` (``config.yaml``, ``split.json``, ``run.json``, checkpoints, history).

    With ``resume``, the run's own saved config and split are used. Under ``torchrun`` (see
    :mod:`medseg.training.distributed`) every process calls this; rank 0 alone writes files and
    the others read the split it saved.
    """
    run_dir = Path(run_dir)
    check_run_dir(run_dir, overwrite, resume)
    if resume:
        config = load_config(run_dir / "config.yaml")
    with training_session(config.train.device, config.train.batch_size) as ctx:  # checks the batch first
        barrier()  # every rank has checked the directory before rank 0 changes it
        cases = cases if cases is not None else load_cases(config, data_path)
        if ctx.is_main:
            prepare_run_dir(run_dir, overwrite, resume)
        if resume:
            split = load_split(run_dir / "split.json")
        elif split is None and ctx.is_main:
            split = split_cases(cases, config.data.val_fraction, config.data.test_fraction, config.data.split_seed)
        if not resume and ctx.is_main:
            save_config(config, run_dir / "config.yaml")
            save_split(split, run_dir / "split.json")
            write_run_info(
                run_dir,
                {
                    "data": str(Path(data_path).resolve()),
                    "created": time.strftime("%Y-%m-%d %H:%M:%S"),
                    "code": code_version(),
                    "cases": {k: len(v) for k, v in split.items()},
                    "processes": ctx.world_size,
                },
            )
        barrier()
        if split is None:
            split = load_split(run_dir / "split.json")
        result = fit(
            config,
            select(cases, split["train"]),
            select(cases, split["val"]),
            run_dir,
            resume=resume,
            callbacks=callbacks,
        )
        if ctx.is_main:
            write_run_info(run_dir, {"result": result.__dict__})
        barrier()
    return result


def write_run_info(run_dir: Path, update: dict[str, Any]) -> None:
    """Merges ``update`` into ``run_dir/run.json``."""
    path = run_dir / "run.json"
    info = json.loads(path.read_text()) if path.is_file() else {}
    info.update(update)
    atomic_write_text(path, json.dumps(info, indent=1, default=str))
