"""A training run on disk: directory checks, data, split, config snapshot, then :func:`fit`."""

from __future__ import annotations

import contextlib
import json
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import torch

from medseg import __version__
from medseg.config import Config, load_config, save_config
from medseg.data.case import Case
from medseg.data.loading import load_cases
from medseg.data.splits import Split, load_split, save_split, select, split_cases
from medseg.errors import ConfigError, RunDirError
from medseg.experiments.rundir import OutputDir, check_output_dir
from medseg.io import atomic_write_text
from medseg.logs import log_to_file
from medseg.models.checkpoint import initial_weights, load_checkpoint
from medseg.run_folder import RunFolder
from medseg.training.callbacks import Callback
from medseg.training.distributed import barrier, training_session
from medseg.training.engine import FitResult, fit
from medseg.training.history import History
from medseg.training.state import model_spec_of


def check_run_dir(run_dir: Path, overwrite: bool = False, resume: bool = False, data_path: Any = None) -> None:
    """Checks, without changing anything, that a run may start (or resume) in ``run_dir``.

    Raises:
        RunDirError: nothing to resume, or the folder is refused (see :mod:`medseg.experiments.rundir`).
    """
    check_output_dir(run_dir, "train", [data_path], overwrite, resume)
    if resume:
        run = RunFolder(run_dir)
        if not run.last.is_file():
            raise RunDirError(f"{run_dir}: nothing to resume (no {run.last.relative_to(run_dir)})")
        saved = load_checkpoint(run.last)  # a damaged or hostile file fails before any write
        History(run.history).load(up_to_epoch=int(saved["epoch"]))  # likewise the files resumed with it
        load_split(run.split)


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


def check_names(config: Config) -> None:
    """Checks the names that registries resolve: model, loss and reader layout.

    Raises:
        ConfigError: an unknown name; the message lists the known ones.
    """
    from medseg.data.readers import READERS
    from medseg.losses import LOSSES
    from medseg.models import MODELS

    for key, value, registry in (
        ("model.name", config.model.name, MODELS),
        ("train.loss", config.train.loss, LOSSES),
        ("data.layout", config.data.layout, READERS),
    ):
        if value not in registry:
            raise ConfigError(f"{key}={value!r} is not allowed; known: {', '.join(registry.names())}")


def one_network_only(config: Config, what: str) -> None:
    """Refuses a config with ``ensemble.members`` where ``what`` trains one network per run.

    Raises:
        ConfigError: the config lists members.
    """
    if config.ensemble.members:
        raise ConfigError(
            f"{config.name}: ensemble.members lists {len(config.ensemble.members)} networks, but {what} trains "
            "one network per run; train the ensemble with medseg train (one process per member)"
        )


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

    ``train.log`` in ``run_dir`` keeps the lines printed while training (appended to on resume).

    The config, the folder (:mod:`medseg.experiments.rundir`) and every case of the data are
    checked before ``run_dir`` is created; with ``overwrite`` the new run is written beside the old
    one and replaces it only when training has finished. With ``resume``, the run's own saved
    config and split are used. Under ``torchrun`` (see
    :mod:`medseg.training.distributed`) every process calls this; rank 0 alone writes files and
    the others read the split it saved.
    """
    run_dir = Path(run_dir)
    one_network_only(config, "a training run")
    check_run_dir(run_dir, overwrite, resume, data_path)
    if resume:
        config = load_config(RunFolder(run_dir).config)
    check_names(config)
    if config.train.init_weights and not resume:
        initial_weights(model_spec_of(config), config.train.init_weights)  # before anything is read or written
    with training_session(config.train.device, config.train.batch_size) as ctx:  # checks the batch first
        cases = cases if cases is not None else load_cases(config, data_path)  # data checked before any write
        output = OutputDir.plan(run_dir, "train", [data_path], overwrite, resume, main=ctx.is_main)
        barrier()  # every rank has checked the directory before rank 0 changes it
        output.prepare()
        try:
            with log_to_file(RunFolder(output.work).train_log) if ctx.is_main else contextlib.nullcontext():
                result = _train_into(output.work, config, data_path, resume, cases, split, callbacks, ctx)
        except BaseException:
            output.abandon()
            raise
        output.commit()
        barrier()
    return result


def _train_into(
    work: Path,
    config: Config,
    data_path: str | Path,
    resume: bool,
    cases: list[Case],
    split: Split | None,
    callbacks: list[Callback] | None,
    ctx: Any,
) -> FitResult:
    run = RunFolder(work)
    if resume and ctx.is_main:
        remove_stale_temporaries(work)
    if resume:
        split = load_split(run.split)
    elif split is None and ctx.is_main:
        split = split_cases(cases, config.data.val_fraction, config.data.test_fraction, config.data.split_seed)
    if not resume and ctx.is_main:
        save_config(config, run.config)
        save_split(split, run.split)
        write_run_info(
            work,
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
        split = load_split(run.split)
    result = fit(
        config,
        select(cases, split["train"]),
        select(cases, split["val"]),
        work,
        resume=resume,
        callbacks=callbacks,
    )
    if ctx.is_main:
        write_run_info(work, {"result": result.__dict__})
    barrier()
    return result


def write_run_info(run_dir: Path, update: dict[str, Any]) -> None:
    """Merges ``update`` into ``run_dir/run.json``."""
    path = RunFolder(run_dir).run_info
    info = json.loads(path.read_text()) if path.is_file() else {}
    info.update(update)
    atomic_write_text(path, json.dumps(info, indent=1, default=str))
