"""The fit loop: train, validate, then let the hooks record, checkpoint, log and stop; resume.

Runs as a single process or, under ``torchrun``, as one of N DistributedDataParallel replicas
(see :mod:`medseg.training.distributed`): metrics are summed over ranks, only rank 0 writes.
What the loop shares with its hooks is :class:`medseg.training.state.TrainState`.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from medseg.config import Config
from medseg.data.case import Case
from medseg.logs import progress
from medseg.losses import main_output
from medseg.metrics import batch_dice, to_labels
from medseg.models import count_parameters, to_probabilities
from medseg.models.checkpoint import load_checkpoint
from medseg.run_folder import RunFolder
from medseg.training import distributed, progressive
from medseg.training.callbacks import (
    Callback,
    EarlyStopping,
    EpochLog,
    HistoryRecorder,
    TensorBoardLogger,
    TimeLimit,
)
from medseg.training.checkpointing import Checkpointer, restore_state
from medseg.training.optim import TimeBudgetCosine, effective_monitor
from medseg.training.state import TrainState, build_state

AUGMENT_RANK_STRIDE = 7919  # offsets each rank's augmentation seed (rank 0 keeps the single-process one)


@dataclass
class FitResult:
    best_score: float
    best_epoch: int
    epochs_run: int
    train_seconds: float
    stopped_early: bool
    stop_reason: str = ""  # "", "max_minutes", "early_stopping" or a callback's own
    monitor: str = ""  # the metric best_score is of (train_loss when a val_* monitor had no validation set)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Autocast to ``dtype`` on ``device``'s type; no autocast (float32) when ``dtype`` is None."""
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


def _as_float(outputs: torch.Tensor | list[torch.Tensor]) -> torch.Tensor | list[torch.Tensor]:
    """A model's output (a tensor, or a deep-supervision list) in float32, for the loss and the metrics."""
    if isinstance(outputs, torch.Tensor):
        return outputs.float()
    return [output.float() for output in outputs]


def _precision_note(state: TrainState) -> str:
    """The start line's note on the precision of the forward passes from the first epoch this run trains."""
    dtype = state.autocast_dtype_at(state.start_epoch)
    if dtype is None:
        return ""
    last = state.config.train.cpu_bf16_epochs
    if dtype == torch.bfloat16 and last is not None:
        return f"; mixed precision (bfloat16 up to epoch {last}, float32 after)"
    return f"; mixed precision ({'float16' if dtype == torch.float16 else 'bfloat16'})"


def default_callbacks(config: Config, state: TrainState) -> list[Callback]:
    """Time limit (``train.max_minutes``), early stopping (``train.early_stopping_patience``), TensorBoard (rank 0).

    The time limit comes first: when it and another hook both stop a run, the reason is the time.
    """
    train_cfg = config.train
    callbacks: list[Callback] = []
    if train_cfg.max_minutes is not None:
        callbacks.append(TimeLimit(state, train_cfg.max_minutes))
    if train_cfg.early_stopping_patience is not None:
        monitor = effective_monitor(train_cfg.early_stopping_monitor or train_cfg.monitor, state.val_loader is not None)
        callbacks.append(EarlyStopping(monitor, train_cfg.early_stopping_patience, train_cfg.early_stopping_min_delta))
    if train_cfg.tensorboard and state.place.ctx.is_main:
        callbacks.append(TensorBoardLogger(RunFolder(state.run_dir).tensorboard))
    return callbacks


def fit(
    config: Config,
    train_cases: list[Case],
    val_cases: list[Case],
    run_dir: str | Path,
    resume: bool = False,
    callbacks: list[Callback] | None = None,
) -> FitResult:
    """Trains ``config.model`` on ``train_cases``, validating on ``val_cases`` every ``train.val_every`` epochs.

    Writes ``checkpoints/{last,best}.pt`` and ``history.csv`` after each epoch (atomically: a killed
    run resumes from its last complete epoch) and TensorBoard events. Deeply supervised models get
    :class:`medseg.losses.DeepSupervisionLoss`; metrics use the final head.

    Args:
        config: the experiment; ``config.train`` drives the loop.
        train_cases, val_cases: labelled cases (``val_cases`` may be empty: no validation).
        run_dir: where the checkpoints and logs go (rank 0 writes).
        resume: continue from ``run_dir/checkpoints/last.pt``.
        callbacks: extra hooks, after the default ones (time limit, early stopping, TensorBoard).
    """
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    seed_everything(config.train.seed)
    resuming = resume and RunFolder(run_dir).last.is_file()
    state = build_state(config, train_cases, val_cases, Path(run_dir), warm_start=not resuming)
    if state.monitor != config.train.monitor:
        distributed.log_main(
            f"no validation cases: the best checkpoint and the schedule follow {state.monitor}, "
            f"not {config.train.monitor}"
        )
    hooks = default_callbacks(config, state) + list(callbacks or [])
    checkpointer = Checkpointer(state, hooks)
    writers = [HistoryRecorder(state), checkpointer, EpochLog(state)]  # they see the epoch after every hook
    if resuming:
        restore_state(state, hooks, load_checkpoint(checkpointer.last))
        distributed.log_main(f"resuming from epoch {state.start_epoch - 1} ({checkpointer.last})")
    _log_start(state)
    for hook in hooks + writers:
        hook.on_fit_start(state.net, state.start_epoch, state.iteration)
    stopper: Callback | None = None
    state.epoch = state.start_epoch - 1  # the last epoch run, should none run now
    for epoch in range(state.start_epoch, config.train.epochs + 1):
        state.epoch = epoch
        train_epoch(state, hooks + writers)
        scores = {"train_loss": state.train_row["loss"]}
        if state.val_loader is not None and epoch % config.train.val_every == 0:
            val_row = evaluate_loader(
                state.net,
                state.val_loader,
                state.loss_fn,
                state.device,
                autocast_dtype=state.autocast_dtype,
                memory_format=state.memory_format,
            )
            scores.update({f"val_{k}": v for k, v in val_row.items()})
        epoch_lr = state.lr
        _step_scheduler(state, scores)
        state.update_best(scores)
        requests = [hook.on_epoch_end(epoch, state.iteration, {**scores, "lr": epoch_lr}) for hook in hooks]
        for writer in writers:
            writer.on_epoch_end(epoch, state.iteration, {**scores, "lr": epoch_lr})
        stopper = next((hook for hook, stop in zip(hooks, requests, strict=True) if stop), None)
        if stopper is not None:
            distributed.log_main(stopper.stop_message(epoch))
            break
    _log_replicas(state)
    for hook in hooks + writers:
        hook.on_fit_end(state.net)
    distributed.barrier()
    reason = stopper.stop_reason if stopper is not None else ""
    return FitResult(
        state.best_score, state.best_epoch, state.epoch, state.train_seconds, stopper is not None, reason, state.monitor
    )


def train_epoch(state: TrainState, hooks: list[Callback]) -> None:
    """One pass over the training loader; sets ``state.train_row`` (loss, pixel accuracy) and the clock."""
    train_cfg, ctx = state.config.train, state.place.ctx
    state.train_set.set_random_state(train_cfg.seed * 100003 + state.epoch + AUGMENT_RANK_STRIDE * ctx.rank)
    started = time.perf_counter()
    size = state.train_size_at(state.epoch)
    state.model.train()
    totals = np.zeros(4)  # loss sum, correct pixels, pixels, images
    desc = f"epoch {state.epoch}/{train_cfg.epochs}"
    bar = progress(state.train_loader, desc=desc, unit="batch", enabled=ctx.is_main)
    for batch in bar:
        if isinstance(state.scheduler, TimeBudgetCosine):
            elapsed = torch.tensor([state.train_seconds + time.perf_counter() - started], dtype=torch.float64)
            if ctx.distributed:  # every rank must use the same rate: average the clocks
                elapsed = distributed.all_reduce_sum(elapsed) / ctx.world_size
            state.scheduler.update(float(elapsed[0]))
        images = batch["image"].to(state.device, memory_format=state.memory_format)
        masks = batch["mask"].to(state.device)
        if size is not None:
            images, masks = progressive.resize_batch(images, masks, size)
        step, loss = train_step(state, images, masks)
        if ctx.distributed:
            step = distributed.all_reduce_sum(torch.from_numpy(step)).numpy()
            loss = step[0] / step[3]  # the global batch's loss
        totals += step
        state.iteration += 1
        values = {"loss": loss, "pixel_accuracy": step[1] / step[2], "lr": state.lr}
        for hook in hooks:
            hook.on_iteration_end(state.iteration, values)
        bar.set_postfix(loss=f"{values['loss']:.4f}")
    state.train_seconds += time.perf_counter() - started
    state.train_row = {"loss": totals[0] / totals[3], "pixel_accuracy": totals[1] / totals[2]}


def train_step(state: TrainState, images: torch.Tensor, masks: torch.Tensor) -> tuple[np.ndarray, float]:
    """One optimiser step on ``images (N, C, H, W)``, ``masks (N, 1, H, W)``.

    Returns:
        ``[loss x N, correct pixels, pixels, N]`` of this process's batch (float64), and its loss.
    """
    optimizer, scaler, clip = state.optimizer, state.scaler, state.config.train.grad_clip_norm
    optimizer.zero_grad(set_to_none=True)
    with _autocast(state.device, state.autocast_dtype):
        outputs = state.model(images)
    loss = state.loss_fn(_as_float(outputs), masks)  # in float32, outside autocast
    if scaler is not None:
        scaler.scale(loss).backward()
        if clip is not None:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(state.model.parameters(), clip)
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(state.model.parameters(), clip)
        optimizer.step()
    with torch.no_grad():
        logits = main_output(outputs)
        correct = (to_labels(to_probabilities(logits.float()), keepdim=True) == masks).sum().item()
    value = loss.item()
    return np.array([value * len(images), correct, masks.numel(), len(images)], dtype=np.float64), value


def _step_scheduler(state: TrainState, scores: dict[str, float]) -> None:
    if isinstance(state.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        if state.monitor in scores:  # epochs without validation leave a val_* plateau alone
            state.scheduler.step(scores[state.monitor])
    elif state.scheduler is not None:
        state.scheduler.step()


def _log_start(state: TrainState) -> None:
    ctx, cfg = state.place.ctx, state.config
    processes = f" x {ctx.world_size} processes (batch {state.place.local_batch} each)" if ctx.distributed else ""
    val_images = len(state.val_loader.dataset) if state.val_loader is not None else 0  # type: ignore[arg-type]
    distributed.log_main(
        f"model {cfg.model.name}: {count_parameters(state.net):,} parameters; {len(state.train_set)} train, "
        f"{val_images} val images; device {state.device}{processes}" + _precision_note(state) + _resize_note(state)
    )


def _resize_note(state: TrainState) -> str:
    """The start line's note on progressive resizing, when the run has it."""
    schedule = state.config.train.progressive_resize
    if not schedule:
        return ""
    height, width = state.config.data.image_size
    return f"; training batches at {progressive.describe(schedule)}, {height}x{width} after"


def _log_replicas(state: TrainState) -> None:
    if state.place.ctx.distributed:
        difference = distributed.max_replica_difference(state.net)
        distributed.log_main(
            f"replicas on {state.place.ctx.world_size} ranks agree to {difference:.3g} (max |difference| of any weight)"
        )


@torch.no_grad()
def evaluate_loader(
    model: torch.nn.Module,
    loader: DataLoader,
    loss_fn: Any,
    device: torch.device,
    autocast_dtype: torch.dtype | None = None,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> dict[str, float]:
    """Loss, pixel accuracy and foreground Dice over a loader, at network resolution.

    ``memory_format`` is the layout the batches are put in (the model's, for ``train.channels_last``);
    ``autocast_dtype`` the dtype of the forward passes (the training's, see ``TrainState.autocast_dtype``).

    Under ``torchrun`` each rank evaluates its shard and the sums are added over ranks, so every
    rank returns the scores of the whole set.
    """
    model.eval()
    sums = torch.zeros(6, dtype=torch.float64)  # loss sum, images, correct, pixels, dice num, dice den
    for batch in loader:
        images, masks = batch["image"].to(device, memory_format=memory_format), batch["mask"].to(device)
        with _autocast(device, autocast_dtype):
            outputs = model(images)
        outputs = _as_float(outputs)
        loss = loss_fn(outputs, masks)
        probabilities = to_probabilities(main_output(outputs).float())
        sums[0] += loss.item() * len(images)
        sums[1] += len(images)
        sums[2] += (to_labels(probabilities, keepdim=True) == masks).sum().item()
        sums[3] += masks.numel()
        sums[4:] += batch_dice(probabilities.cpu(), masks.cpu())
    distributed.all_reduce_sum(sums)
    loss_sum, count, correct, pixels, dice_num, dice_den = sums.tolist()
    dice = dice_num / dice_den if dice_den > 0 else math.nan
    return {"loss": loss_sum / count, "pixel_accuracy": correct / pixels, "dice": dice}
