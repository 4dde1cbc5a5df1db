"""The fit loop: train, validate, checkpoint (best and last), record history, resume."""

from __future__ import annotations

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
from medseg.losses import create_loss
from medseg.metrics import batch_dice
from medseg.models import count_parameters, create_model, output_channels, to_probabilities
from medseg.training.checkpoint import load_checkpoint, save_checkpoint
from medseg.training.history import History
from medseg.training.optim import build_optimizer, build_scheduler


@dataclass
class FitResult:
    best_score: float
    best_epoch: int
    epochs_run: int
    train_seconds: float
    stopped_early: bool


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _higher_is_better(monitor: str) -> bool:
    return "loss" not in monitor


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fit(
    config: Config,
    train_cases: list[Case],
    val_cases: list[Case],
    run_dir: str | Path,
    resume: bool = False,
) -> FitResult:
    """Trains ``config.model`` on ``train_cases``, validating on ``val_cases`` every epoch.

    Writes ``run_dir/checkpoints/{last,best}.pt`` and ``run_dir/history.csv`` atomically after
    each epoch, so a killed run resumes (``resume=True``) from its last complete epoch.
    """
    run_dir = Path(run_dir)
    cfg, train_cfg = config, config.train
    if train_cfg.threads:
        torch.set_num_threads(train_cfg.threads)
    seed_everything(train_cfg.seed)
    device = resolve_device(train_cfg.device)

    train_set = SegmentationDataset(train_cases, cfg.data, cfg.augment)
    val_set = SegmentationDataset(val_cases, cfg.data) if val_cases else None
    generator = torch.Generator().manual_seed(train_cfg.seed)
    sampler = RandomSampler(
        train_set,
        replacement=train_cfg.iterations_per_epoch is not None,
        num_samples=(train_cfg.iterations_per_epoch or 0) * train_cfg.batch_size or None,
        generator=generator,
    )
    train_loader = DataLoader(
        train_set,
        batch_size=train_cfg.batch_size,
        sampler=sampler,
        num_workers=train_cfg.num_workers,
        drop_last=len(train_set) > train_cfg.batch_size,
    )
    val_loader = DataLoader(val_set, batch_size=train_cfg.batch_size) if val_set else None

    classes = output_channels(cfg.data.num_classes, cfg.model.out_channels)
    model_spec = {
        "name": cfg.model.name,
        "params": dict(cfg.model.params),
        "in_channels": cfg.data.channels,
        "classes": classes,
    }
    model = create_model(cfg.model.name, in_channels=cfg.data.channels, classes=classes, **cfg.model.params).to(device)
    loss_fn = create_loss(train_cfg.loss, **train_cfg.loss_params)
    optimizer = build_optimizer(model.parameters(), train_cfg)
    scheduler = build_scheduler(optimizer, train_cfg)

    higher_better = _higher_is_better(train_cfg.monitor)
    best_score, best_epoch, start_epoch, train_seconds = (-math.inf if higher_better else math.inf), 0, 1, 0.0
    history = History(run_dir / "history.csv")
    last_path, best_path = run_dir / "checkpoints" / "last.pt", run_dir / "checkpoints" / "best.pt"
    if resume and last_path.is_file():
        state = load_checkpoint(last_path)
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        best_score, best_epoch = state["best_score"], state["best_epoch"]
        start_epoch, train_seconds = state["epoch"] + 1, state["train_seconds"]
        torch.set_rng_state(state["rng"]["torch"])
        np.random.set_state(state["rng"]["numpy"])
        random.setstate(state["rng"]["python"])
        generator.set_state(state["rng"]["sampler"])
        history.load(up_to_epoch=state["epoch"])
        _log(f"resuming from epoch {state['epoch']} ({last_path})")
    _log(
        f"model {cfg.model.name}: {count_parameters(model):,} parameters; {len(train_set)} train, "
        f"{len(val_set) if val_set else 0} val images; device {device}"
    )

    interactive = sys.stderr.isatty()
    iteration = len([r for r in history.rows if r["level"] == "iteration" and r["phase"] == "train"])
    stopped_early = False
    epoch = start_epoch - 1
    for epoch in range(start_epoch, train_cfg.epochs + 1):
        train_set.set_random_state(train_cfg.seed * 100003 + epoch)
        started = time.perf_counter()
        model.train()
        totals = np.zeros(3)  # loss sum, correct pixels, pixels
        bar = tqdm(train_loader, desc=f"epoch {epoch}/{train_cfg.epochs}", disable=not interactive, leave=False)
        for batch in bar:
            images, masks = batch["image"].to(device), batch["mask"].to(device)
            optimizer.zero_grad(set_to_none=True)
            logits = model(images)
            loss = loss_fn(logits, masks)
            loss.backward()
            optimizer.step()
            iteration += 1
            with torch.no_grad():
                correct = (to_probabilities(logits).argmax(1, keepdim=True) == masks).sum().item()
            totals += (loss.item() * len(images), correct, masks.numel())
            history.add(
                level="iteration",
                phase="train",
                epoch=epoch,
                iteration=iteration,
                loss=loss.item(),
                pixel_accuracy=correct / masks.numel(),
                lr=optimizer.param_groups[0]["lr"],
            )
            bar.set_postfix(loss=f"{loss.item():.4f}")
        train_seconds += time.perf_counter() - started
        seen = totals[2] / masks[0].numel()
        train_row = {"loss": totals[0] / seen, "pixel_accuracy": totals[1] / totals[2]}
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
            val_row = evaluate_loader(model, val_loader, loss_fn, device)
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
        if scheduler is not None:
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(scores.get(train_cfg.monitor, scores["train_loss"]))
            else:
                scheduler.step()

        score = scores.get(train_cfg.monitor)
        improved = score is not None and (score > best_score if higher_better else score < best_score)
        if improved:
            best_score, best_epoch = score, epoch
        state = {
            "model": model_spec,
            "state_dict": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "epoch": epoch,
            "best_score": best_score,
            "best_epoch": best_epoch,
            "monitor": train_cfg.monitor,
            "train_seconds": train_seconds,
            "config": config.to_dict(),
            "medseg_version": __version__,
            "rng": {
                "torch": torch.get_rng_state(),
                "numpy": np.random.get_state(),
                "python": random.getstate(),
                "sampler": generator.get_state(),
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
        if train_cfg.max_minutes is not None and train_seconds > train_cfg.max_minutes * 60:
            _log(f"stopping: training time {train_seconds / 60:.1f} min reached train.max_minutes")
            stopped_early = True
            break
    if not best_path.exists() and last_path.exists():
        save_checkpoint(best_path, load_checkpoint(last_path))
    return FitResult(best_score, best_epoch, epoch, train_seconds, stopped_early)


@torch.no_grad()
def evaluate_loader(model: torch.nn.Module, loader: DataLoader, loss_fn: Any, device: torch.device) -> dict[str, float]:
    """Loss, pixel accuracy and foreground Dice over a loader, at network resolution."""
    model.eval()
    loss_sum, correct, pixels, count = 0.0, 0, 0, 0
    dice_parts = torch.zeros(2, dtype=torch.float64)
    for batch in loader:
        images, masks = batch["image"].to(device), batch["mask"].to(device)
        logits = model(images)
        loss_sum += loss_fn(logits, masks).item() * len(images)
        count += len(images)
        probabilities = to_probabilities(logits)
        correct += (probabilities.argmax(1, keepdim=True) == masks).sum().item()
        pixels += masks.numel()
        dice_parts += batch_dice(probabilities.cpu(), masks.cpu())
    dice = float(dice_parts[0] / dice_parts[1]) if dice_parts[1] > 0 else math.nan
    return {"loss": loss_sum / count, "pixel_accuracy": correct / pixels, "dice": dice}
