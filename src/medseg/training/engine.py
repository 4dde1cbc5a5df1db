"""The fit loop: train, validate, checkpoint (best and last), record history, resume.

Runs as a single process or, under ``torchrun``, as one of N DistributedDataParallel replicas
(see :mod:`medseg.training.distributed`): metrics are summed over ranks, only rank 0 writes.
"""

from __future__ import annotations

import contextlib
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, RandomSampler
from tqdm import tqdm

from medseg import __version__
from medseg.config import Config
from medseg.data.case import Case
from medseg.data.dataset import SegmentationDataset
from medseg.device import resolve_device
from medseg.errors import ConfigError
from medseg.io import log
from medseg.losses import DeepSupervisionLoss, create_loss, main_output
from medseg.metrics import batch_dice
from medseg.models import count_parameters, create_model, output_channels, to_probabilities
from medseg.models.checkpoint import load_checkpoint, save_checkpoint
from medseg.training import distributed
from medseg.training.callbacks import Callback, EarlyStopping, TensorBoardLogger
from medseg.training.history import History
from medseg.training.optim import (
    TimeBudgetCosine,
    build_optimizer,
    build_scheduler,
    effective_monitor,
    higher_is_better,
)

AUGMENT_RANK_STRIDE = 7919  # offsets each rank's augmentation seed (rank 0 keeps the single-process one)


@dataclass
class FitResult:
    best_score: float
    best_epoch: int
    epochs_run: int
    train_seconds: float
    stopped_early: bool
    stop_reason: str = ""  # "", "max_minutes" or "early_stopping"
    monitor: str = ""  # the metric best_score is of (train_loss when a val_* monitor had no validation set)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _higher_is_better(monitor: str) -> bool:
    return higher_is_better(monitor)


def _log(message: str) -> None:
    if distributed.is_main_process():
        log(message)


def _autocast(enabled: bool) -> contextlib.AbstractContextManager:
    return torch.autocast("cuda", dtype=torch.float16) if enabled else contextlib.nullcontext()


def default_callbacks(config: Config, run_dir: Path, main: bool, has_validation: bool = True) -> list[Callback]:
    """Early stopping (when ``train.early_stopping_patience`` is set) and TensorBoard (rank 0)."""
    train_cfg = config.train
    callbacks: list[Callback] = []
    if train_cfg.early_stopping_patience is not None:
        monitor = effective_monitor(train_cfg.early_stopping_monitor or train_cfg.monitor, has_validation)
        callbacks.append(EarlyStopping(monitor, train_cfg.early_stopping_patience, train_cfg.early_stopping_min_delta))
    if train_cfg.tensorboard and main:
        callbacks.append(TensorBoardLogger(run_dir / "tensorboard"))
    return callbacks


def _callback_keys(hooks: list[Callback]) -> list[str]:
    """Checkpoint keys of the callbacks' states: class name and occurrence (``EarlyStopping:0``)."""
    seen: dict[str, int] = {}
    keys = []
    for hook in hooks:
        name = type(hook).__name__
        keys.append(f"{name}:{seen.get(name, 0)}")
        seen[name] = seen.get(name, 0) + 1
    return keys


def fit(
    config: Config,
    train_cases: list[Case],
    val_cases: list[Case],
    run_dir: str | Path,
    resume: bool = False,
    callbacks: list[Callback] | None = None,
) -> FitResult:
    """Trains ``config.model`` on ``train_cases``, validating on ``val_cases`` every epoch.

    Writes ``run_dir/checkpoints/{last,best}.pt``, ``run_dir/history.csv`` (atomically, after
    each epoch, so a killed run resumes with ``resume=True`` from its last complete epoch) and
    TensorBoard events in ``run_dir/tensorboard``. Models that return a list of logits while
    training (deep supervision) get the weighted loss of :class:`medseg.losses.DeepSupervisionLoss`;
    metrics use the final head.

    Args:
        config: the experiment; ``config.train`` drives the loop.
        train_cases, val_cases: labelled cases (``val_cases`` may be empty: no validation).
        run_dir: where the checkpoints and logs go (rank 0 writes).
        resume: continue from ``run_dir/checkpoints/last.pt``.
        callbacks: extra hooks, after the default ones (early stopping, TensorBoard).
    """
    run_dir = Path(run_dir)
    cfg, train_cfg = config, config.train
    ctx = distributed.context()
    main = ctx.is_main
    if train_cfg.threads:
        torch.set_num_threads(train_cfg.threads)
    seed_everything(train_cfg.seed)
    device = resolve_device(train_cfg.device)
    if ctx.distributed and device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
    local_batch = distributed.local_batch_size(train_cfg.batch_size, ctx.world_size)

    train_set = SegmentationDataset(train_cases, cfg.data, cfg.augment)
    val_set = SegmentationDataset(val_cases, cfg.data) if val_cases else None
    generator = torch.Generator().manual_seed(train_cfg.seed)
    sampler: Any = RandomSampler(
        train_set,
        replacement=train_cfg.iterations_per_epoch is not None,
        num_samples=(train_cfg.iterations_per_epoch or 0) * train_cfg.batch_size or None,
        generator=generator,
    )
    drop_last = len(train_set) > train_cfg.batch_size
    if ctx.distributed:
        sampler = distributed.GlobalBatchShard(sampler, train_cfg.batch_size, ctx.rank, ctx.world_size, drop_last)
        drop_last = False  # the shard holds whole local batches only
    train_loader = DataLoader(
        train_set, batch_size=local_batch, sampler=sampler, num_workers=train_cfg.num_workers, drop_last=drop_last
    )
    val_loader = None
    if val_set is not None:
        val_sampler = distributed.shard_indices(len(val_set), ctx.rank, ctx.world_size) if ctx.distributed else None
        val_loader = DataLoader(val_set, batch_size=local_batch, sampler=val_sampler)

    classes = output_channels(cfg.data.num_classes, cfg.model.out_channels)
    model_spec = {
        "name": cfg.model.name,
        "params": dict(cfg.model.params),
        "in_channels": cfg.data.channels,
        "classes": classes,
    }
    net = create_model(cfg.model.name, in_channels=cfg.data.channels, classes=classes, **cfg.model.params).to(device)
    model = distributed.wrap_model(net, ctx, device, train_cfg.sync_batchnorm)
    net = distributed.unwrap_model(model)
    try:
        loss_fn = DeepSupervisionLoss(
            create_loss(train_cfg.loss, **train_cfg.loss_params),
            train_cfg.deep_supervision,
            train_cfg.deep_supervision_weights,
        )
    except ValueError as exc:
        raise ConfigError(f"train.deep_supervision: {exc}") from None
    monitor = effective_monitor(train_cfg.monitor, val_loader is not None)
    if monitor != train_cfg.monitor:
        _log(f"no validation cases: the best checkpoint and the schedule follow {monitor}, not {train_cfg.monitor}")
    optimizer = build_optimizer(model.parameters(), train_cfg)
    scheduler = build_scheduler(optimizer, train_cfg, monitor)
    amp = train_cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda") if amp else None
    hooks = default_callbacks(config, run_dir, main, val_loader is not None) + list(callbacks or [])

    higher_better = higher_is_better(monitor)
    best_score, best_epoch, start_epoch, train_seconds = (-math.inf if higher_better else math.inf), 0, 1, 0.0
    history = History(run_dir / "history.csv")
    last_path, best_path = run_dir / "checkpoints" / "last.pt", run_dir / "checkpoints" / "best.pt"
    if resume and last_path.is_file():
        state = load_checkpoint(last_path)
        net.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state.get("scaler") is not None:
            scaler.load_state_dict(state["scaler"])
        for key, hook in zip(_callback_keys(hooks), hooks, strict=True):
            saved = state.get("callbacks", {}).get(key)
            if saved:
                hook.load_state_dict(saved)
        best_score, best_epoch = state["best_score"], state["best_epoch"]
        start_epoch, train_seconds = state["epoch"] + 1, state["train_seconds"]
        torch.set_rng_state(state["rng"]["torch"])
        np.random.set_state(state["rng"]["numpy"])
        random.setstate(state["rng"]["python"])
        generator.set_state(state["rng"]["sampler"])
        if device.type == "cuda" and state["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(state["rng"]["cuda"], device)
        history.load(up_to_epoch=state["epoch"])
        _log(f"resuming from epoch {state['epoch']} ({last_path})")
    processes = f" x {ctx.world_size} processes (batch {local_batch} each)" if ctx.distributed else ""
    _log(
        f"model {cfg.model.name}: {count_parameters(net):,} parameters; {len(train_set)} train, "
        f"{len(val_set) if val_set else 0} val images; device {device}{processes}"
        + ("; mixed precision" if amp else "")
    )

    interactive = sys.stderr.isatty() and main
    iteration = len([r for r in history.rows if r["level"] == "iteration" and r["phase"] == "train"])
    for hook in hooks:
        hook.on_fit_start(net, start_epoch, iteration)
    stopped_early, stop_reason = False, ""
    epoch = start_epoch - 1
    for epoch in range(start_epoch, train_cfg.epochs + 1):
        train_set.set_random_state(train_cfg.seed * 100003 + epoch + AUGMENT_RANK_STRIDE * ctx.rank)
        started = time.perf_counter()
        model.train()
        totals = np.zeros(4)  # loss sum, correct pixels, pixels, images
        bar = tqdm(train_loader, desc=f"epoch {epoch}/{train_cfg.epochs}", disable=not interactive, leave=False)
        for batch in bar:
            if isinstance(scheduler, TimeBudgetCosine):
                elapsed = torch.tensor([train_seconds + time.perf_counter() - started], dtype=torch.float64)
                if ctx.distributed:  # every rank must use the same rate: average the clocks
                    elapsed = distributed.all_reduce_sum(elapsed) / ctx.world_size
                scheduler.update(float(elapsed[0]))
            images, masks = batch["image"].to(device), batch["mask"].to(device)
            optimizer.zero_grad(set_to_none=True)
            with _autocast(amp):
                outputs = model(images)
            loss = loss_fn(outputs, masks)  # in float32, outside autocast
            if scaler is not None:
                scaler.scale(loss).backward()
                if train_cfg.grad_clip_norm is not None:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.grad_clip_norm)
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                if train_cfg.grad_clip_norm is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.grad_clip_norm)
                optimizer.step()
            iteration += 1
            with torch.no_grad():
                logits = main_output(outputs)
                correct = (to_probabilities(logits.float()).argmax(1, keepdim=True) == masks).sum().item()
            step = np.array([loss.item() * len(images), correct, masks.numel(), len(images)], dtype=np.float64)
            if ctx.distributed:
                step = distributed.all_reduce_sum(torch.from_numpy(step)).numpy()
            totals += step
            step_loss = loss.item() if not ctx.distributed else step[0] / step[3]
            lr = optimizer.param_groups[0]["lr"]
            history.add(
                level="iteration",
                phase="train",
                epoch=epoch,
                iteration=iteration,
                loss=step_loss,
                pixel_accuracy=step[1] / step[2],
                lr=lr,
            )
            for hook in hooks:
                hook.on_iteration_end(iteration, {"loss": step_loss, "pixel_accuracy": step[1] / step[2], "lr": lr})
            bar.set_postfix(loss=f"{step_loss:.4f}")
        train_seconds += time.perf_counter() - started
        train_row = {"loss": totals[0] / totals[3], "pixel_accuracy": totals[1] / totals[2]}
        history.add(
            level="epoch",
            phase="train",
            epoch=epoch,
            iteration=iteration,
            **train_row,
            lr=optimizer.param_groups[0]["lr"],
            seconds=round(train_seconds, 2),
        )

        scores = {"train_loss": train_row["loss"]}
        if val_loader is not None and epoch % train_cfg.val_every == 0:
            val_row = evaluate_loader(net, val_loader, loss_fn, device, amp=amp)
            history.add(
                level="epoch",
                phase="val",
                epoch=epoch,
                iteration=iteration,
                **val_row,
                lr=optimizer.param_groups[0]["lr"],
                seconds=round(train_seconds, 2),
            )
            scores.update({f"val_{k}": v for k, v in val_row.items()})
        epoch_lr = optimizer.param_groups[0]["lr"]
        if scheduler is not None:
            if not isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step()
            elif monitor in scores:  # epochs without validation leave a val_* plateau alone
                scheduler.step(scores[monitor])

        score = scores.get(monitor)
        improved = score is not None and (score > best_score if higher_better else score < best_score)
        if improved:
            best_score, best_epoch = score, epoch
        stop_requests = [hook.on_epoch_end(epoch, iteration, {**scores, "lr": epoch_lr}) for hook in hooks]
        out_of_time = train_cfg.max_minutes is not None and train_seconds > train_cfg.max_minutes * 60
        if ctx.distributed:  # ranks time themselves: stop together when one is out of time
            out_of_time = distributed.any_rank(out_of_time)
        if main:
            state = {
                "model": model_spec,
                "state_dict": net.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "scaler": scaler.state_dict() if scaler is not None else None,
                "callbacks": {k: h.state_dict() for k, h in zip(_callback_keys(hooks), hooks, strict=True)},
                "epoch": epoch,
                "best_score": best_score,
                "best_epoch": best_epoch,
                "monitor": monitor,
                "train_seconds": train_seconds,
                "world_size": ctx.world_size,
                "config": config.to_dict(),
                "medseg_version": __version__,
                "rng": {
                    "torch": torch.get_rng_state(),
                    "numpy": np.random.get_state(),
                    "python": random.getstate(),
                    "sampler": generator.get_state(),
                    "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
                },
            }
            if improved:
                save_checkpoint(best_path, state)
            history.save()
            save_checkpoint(last_path, state)  # last: the resume point, written after everything else
        _log(
            f"epoch {epoch}/{train_cfg.epochs}  "
            + "  ".join(f"{k} {v:.4f}" for k, v in scores.items())
            + f"  ({train_seconds:.0f} s){'  *best*' if improved else ''}"
        )
        if out_of_time:
            _log(f"stopping: training time {train_seconds / 60:.1f} min reached train.max_minutes")
            stopped_early, stop_reason = True, "max_minutes"
            break
        if any(stop_requests):
            _log(f"stopping early at epoch {epoch}: no improvement (train.early_stopping_patience)")
            stopped_early, stop_reason = True, "early_stopping"
            break
    if main and not best_path.exists() and last_path.exists():
        save_checkpoint(best_path, load_checkpoint(last_path))
    if ctx.distributed:
        difference = distributed.max_replica_difference(net)
        _log(f"replicas on {ctx.world_size} ranks agree to {difference:.3g} (max |difference| of any weight)")
    for hook in hooks:
        hook.on_fit_end(net)
    distributed.barrier()
    return FitResult(best_score, best_epoch, epoch, train_seconds, stopped_early, stop_reason, monitor)


@torch.no_grad()
def evaluate_loader(
    model: torch.nn.Module, loader: DataLoader, loss_fn: Any, device: torch.device, amp: bool = False
) -> dict[str, float]:
    """Loss, pixel accuracy and foreground Dice over a loader, at network resolution.

    Under ``torchrun`` each rank evaluates its shard and the sums are added over ranks, so every
    rank returns the scores of the whole set.
    """
    model.eval()
    sums = torch.zeros(6, dtype=torch.float64)  # loss sum, images, correct, pixels, dice num, dice den
    for batch in loader:
        images, masks = batch["image"].to(device), batch["mask"].to(device)
        with _autocast(amp):
            outputs = model(images)
        loss = loss_fn(outputs, masks)
        probabilities = to_probabilities(main_output(outputs).float())
        sums[0] += loss.item() * len(images)
        sums[1] += len(images)
        sums[2] += (probabilities.argmax(1, keepdim=True) == masks).sum().item()
        sums[3] += masks.numel()
        sums[4:] += batch_dice(probabilities.cpu(), masks.cpu())
    distributed.all_reduce_sum(sums)
    loss_sum, count, correct, pixels, dice_num, dice_den = sums.tolist()
    dice = dice_num / dice_den if dice_den > 0 else math.nan
    return {"loss": loss_sum / count, "pixel_accuracy": correct / pixels, "dice": dice}
