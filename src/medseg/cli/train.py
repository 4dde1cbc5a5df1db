"""``medseg train``, ``medseg cv`` and ``medseg average``: the commands that make run folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medseg.cli.base import console, fail
from medseg.cli.choices import CHECKPOINT
from medseg.errors import MedsegError
from medseg.run_folder import RunFolder


def train(
    config: Annotated[str, typer.Argument(help="YAML config file, or a packaged config name (e.g. hc18_unet)")],
    data: Annotated[Path, typer.Option(help="dataset root in its native layout")],
    out: Annotated[Path, typer.Option(help="run directory to create")],
    overrides: Annotated[
        list[str] | None, typer.Argument(help="deprecated: section.key=value, the same as --set", hidden=True)
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="replace an existing run directory")] = False,
    resume: Annotated[bool, typer.Option(help="continue the run in OUT from its last checkpoint")] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="KEY=VALUE config override, e.g. train.lr=1e-3 (repeatable)"),
    ] = None,
) -> None:
    """Train a model; writes config, split, history and checkpoints into OUT.

    Data-parallel on N processes: torchrun --nproc_per_node N -m medseg train ... (train.batch_size
    is the global batch, split over the processes). A config with ensemble.members trains each member
    side by side into OUT/member_K; OUT then predicts as one model.
    """
    from medseg.config import load_config
    from medseg.experiments.train import train_run
    from medseg.training.distributed import is_main_process

    try:
        cfg = load_config(config, [*(set_ or []), *(overrides or [])])
        if cfg.ensemble.members:
            _train_ensemble(cfg, data, out, overwrite, resume)
            return
        result = train_run(cfg, data, out, overwrite=overwrite, resume=resume)
    except MedsegError as error:
        fail(error)
    if is_main_process():  # under torchrun, rank 0 reports
        console.print(
            f"best {result.monitor or cfg.train.monitor} {result.best_score:.4f} at epoch {result.best_epoch}; "
            f"{result.train_seconds / 60:.1f} min training; run in {out}"
        )


def _train_ensemble(cfg, data: Path, out: Path, overwrite: bool, resume: bool) -> None:
    from medseg.errors import OptionError
    from medseg.experiments.members import train_members

    if resume:
        raise OptionError(f"{out}: --resume continues one run; resume an ensemble's members one by one (OUT/member_K)")
    result = train_members(cfg, data, out, overwrite)
    for index, member in enumerate(result.members):
        monitor, score = member.get("monitor") or cfg.train.monitor, member.get("best_score", float("nan"))
        console.print(
            f"member {index}: best {monitor} {score:.4f} at epoch {member.get('best_epoch')}; "
            f"{member.get('train_seconds', 0) / 60:.1f} min training"
        )
    console.print(
        f"{len(result.members)} members side by side in {result.wall_seconds / 60:.1f} min; ensemble in {out}"
    )


def cv(
    config: Annotated[str, typer.Argument(help="YAML config file, or a packaged config name")],
    data: Annotated[Path, typer.Option(help="dataset root in its native layout")],
    out: Annotated[Path, typer.Option(help="cross-validation directory to create (fold_K run dirs inside)")],
    overrides: Annotated[
        list[str] | None, typer.Argument(help="deprecated: section.key=value, the same as --set", hidden=True)
    ] = None,
    folds: Annotated[int, typer.Option(help="number of subject-grouped folds")] = 4,
    test_fraction: Annotated[
        float | None, typer.Option(help="fixed test set (fraction of subjects); default: data.test_fraction")
    ] = None,
    monitor: Annotated[
        str, typer.Option(help="metric choosing each fold's best checkpoint; 'config': as set")
    ] = "val_loss",
    overwrite: Annotated[bool, typer.Option(help="replace an existing directory")] = False,
    resume: Annotated[bool, typer.Option(help="continue OUT: keep finished folds, resume the interrupted one")] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="KEY=VALUE config override, e.g. train.lr=1e-3 (repeatable)"),
    ] = None,
) -> None:
    """K-fold cross-validation: one run per fold, evaluated on its validation fold (and the test set)."""
    from rich.table import Table

    from medseg.config import load_config
    from medseg.experiments.cv import cross_validate

    try:
        cfg = load_config(config, [*(set_ or []), *(overrides or [])])
        result = cross_validate(
            cfg, data, out, folds, test_fraction, None if monitor == "config" else monitor, overwrite, resume
        )
    except MedsegError as error:
        fail(error)
    table = Table(title=f"{result.summary['folds']}-fold cross-validation ({out})")
    for column in ("metric", "mean", "sd", "per fold"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for key, stats in result.summary["metrics"].items():
        per_fold = " ".join(f"{v:.4f}" for v in stats["per_fold"])
        table.add_row(key, f"{stats['mean']:.4f}", f"{stats['sd']:.4f}", per_fold)
    console.print(table)
    run = RunFolder(out)
    console.print(f"results: {run.cv_results}, {run.cv_summary}; ensemble: medseg predict {out} ...")


def average(
    run_dirs: Annotated[
        list[Path], typer.Argument(help="two or more runs of one network; the first gives config and split")
    ],
    out: Annotated[Path, typer.Option(help="the new run folder")],
    checkpoint: Annotated[str, typer.Option(metavar=CHECKPOINT, help="the checkpoint of each run")] = "best",
) -> None:
    """Average the weights of several runs of one network into a new run folder (a model soup)."""
    from medseg.experiments.average import average_runs

    try:
        average_runs(run_dirs, out, checkpoint)
    except MedsegError as error:
        fail(error)
    console.print(f"weights of {len(run_dirs)} runs averaged: {out} (score it with medseg evaluate)", highlight=False)
