"""A run's checkpoint: what it holds, the hook that writes it each epoch, and how a run resumes from it.

:func:`checkpoint_state` and :func:`restore_state` are each other's inverse, so a run killed
after epoch ``k`` resumes from ``checkpoints/last.pt`` exactly where it stopped (weights,
optimiser, schedule, scaler, callbacks' states, random generators and data order).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from torch import nn

from medseg import __version__
from medseg.models.checkpoint import load_checkpoint, reorder_legacy_optimizer_state, save_checkpoint
from medseg.run_folder import RunFolder
from medseg.training.callbacks import Callback
from medseg.training.state import TrainState


def callback_keys(hooks: list[Callback]) -> list[str]:
    """Checkpoint keys of the callbacks' states: class name and occurrence (``EarlyStopping:0``)."""
    seen: dict[str, int] = {}
    keys = []
    for hook in hooks:
        name = type(hook).__name__
        keys.append(f"{name}:{seen.get(name, 0)}")
        seen[name] = seen.get(name, 0) + 1
    return keys


def checkpoint_state(state: TrainState, hooks: list[Callback]) -> dict[str, Any]:
    """The checkpoint of the epoch just finished: enough to rebuild the model and to resume."""
    device = state.device
    return {
        "model": state.model_spec,
        "state_dict": state.net.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict() if state.scheduler is not None else None,
        "scaler": state.scaler.state_dict() if state.scaler is not None else None,
        "callbacks": {k: h.state_dict() for k, h in zip(callback_keys(hooks), hooks, strict=True)},
        "epoch": state.epoch,
        "best_score": state.best_score,
        "best_epoch": state.best_epoch,
        "monitor": state.monitor,
        "train_seconds": state.train_seconds,
        "world_size": state.place.ctx.world_size,
        "config": state.config.to_dict(),
        "medseg_version": __version__,
        "rng": {
            "torch": torch.get_rng_state(),
            "numpy": np.random.get_state(),
            "python": random.getstate(),
            "sampler": state.generator.get_state(),
            "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        },
    }


def restore_state(state: TrainState, hooks: list[Callback], saved: dict[str, Any]) -> None:
    """Undoes :func:`checkpoint_state`: the run continues after epoch ``saved["epoch"]``."""
    state.net.load_state_dict(saved["state_dict"])
    # a checkpoint written before the models' parts were reordered keeps its moments per parameter
    state.optimizer.load_state_dict(reorder_legacy_optimizer_state(state.net, saved["state_dict"], saved["optimizer"]))
    if state.scheduler is not None and saved.get("scheduler") is not None:
        state.scheduler.load_state_dict(saved["scheduler"])
    if state.scaler is not None and saved.get("scaler") is not None:
        state.scaler.load_state_dict(saved["scaler"])
    for key, hook in zip(callback_keys(hooks), hooks, strict=True):
        if saved.get("callbacks", {}).get(key):
            hook.load_state_dict(saved["callbacks"][key])
    state.best_score, state.best_epoch = saved["best_score"], saved["best_epoch"]
    state.start_epoch, state.train_seconds = saved["epoch"] + 1, saved["train_seconds"]
    rng = saved["rng"]
    torch.set_rng_state(rng["torch"])
    np.random.set_state(rng["numpy"])
    random.setstate(rng["python"])
    state.generator.set_state(rng["sampler"])
    if state.device.type == "cuda" and rng.get("cuda") is not None:
        torch.cuda.set_rng_state(rng["cuda"], state.device)
    state.history.load(up_to_epoch=saved["epoch"])
    state.iteration = len([r for r in state.history.rows if r["level"] == "iteration" and r["phase"] == "train"])


class Checkpointer(Callback):
    """Rank 0 writes ``checkpoints/best.pt`` (when improved), ``history.csv``, then ``checkpoints/last.pt``.

    ``last.pt`` is the resume point and is written after everything else of the epoch; it holds
    the states of ``hooks``. A run that never improved gets its last checkpoint as the best.
    """

    def __init__(self, state: TrainState, hooks: list[Callback]) -> None:
        self.state, self.hooks = state, hooks
        self.last = RunFolder(state.run_dir).last
        self.best = RunFolder(state.run_dir).best

    def on_epoch_end(self, epoch: int, iteration: int, scores: dict[str, float]) -> bool:
        if self.state.place.ctx.is_main:
            saved = checkpoint_state(self.state, self.hooks)
            if self.state.improved:
                save_checkpoint(self.best, saved)
            self.state.history.save()
            save_checkpoint(self.last, saved)
        return False

    def on_fit_end(self, model: nn.Module) -> None:
        if self.state.place.ctx.is_main and not self.best.exists() and self.last.exists():
            save_checkpoint(self.best, load_checkpoint(self.last))
