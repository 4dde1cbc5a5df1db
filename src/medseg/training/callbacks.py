"""Hooks into :func:`medseg.training.engine.fit`: history, checkpoints, logging, stopping, TensorBoard.

``fit`` calls every hook in order: first the run's own (time limit, early stopping, TensorBoard),
then the caller's, and last the writers that see the finished epoch (:class:`HistoryRecorder`,
:class:`medseg.training.checkpointing.Checkpointer`, :class:`EpochLog`), which read the shared
:class:`medseg.training.state.TrainState`. A callback with state (early stopping's patience
counter) returns it from :meth:`Callback.state_dict` and it is stored in ``checkpoints/last.pt``,
so a resumed run continues where it stopped.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from medseg.training import distributed
from medseg.training.optim import higher_is_better

if TYPE_CHECKING:
    from medseg.training.state import TrainState


class Callback:
    """Base class; every hook is optional. ``fit`` calls them on every rank under ``torchrun``.

    A callback whose :meth:`on_epoch_end` returns True ends training with ``stop_reason``.
    """

    stop_reason = "callback"

    def stop_message(self, epoch: int) -> str:
        return f"stopping at epoch {epoch}: {type(self).__name__} asked to stop"

    def on_fit_start(self, model: nn.Module, start_epoch: int, iteration: int) -> None:
        """Before the first (or first resumed) epoch; ``model`` is the unwrapped network."""

    def on_iteration_end(self, iteration: int, values: dict[str, float]) -> None:
        """After each optimiser step; ``values``: ``loss``, ``pixel_accuracy``, ``lr`` (global batch)."""

    def on_epoch_end(self, epoch: int, iteration: int, scores: dict[str, float]) -> bool:
        """After each epoch's validation and checkpoint; ``scores``: ``train_loss``, ``val_dice``, ``lr``, ...

        Returns:
            True to stop training after this epoch.
        """
        return False

    def on_fit_end(self, model: nn.Module) -> None:
        """After the last epoch (on every rank)."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores what :meth:`state_dict` returned (resume)."""


class EarlyStopping(Callback):
    """Stops when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` validations.

    Epochs without the metric (no validation that epoch) do not count.

    Args:
        monitor: a score name, e.g. ``val_dice`` (higher is better) or ``val_loss`` (lower).
        patience: validations without improvement before stopping (>= 1).
        min_delta: the smallest change that counts as an improvement (>= 0).
    """

    stop_reason = "early_stopping"

    def __init__(self, monitor: str, patience: int, min_delta: float = 0.0) -> None:
        if patience < 1:
            raise ValueError(f"early stopping patience must be at least 1, got {patience}")
        if min_delta < 0:
            raise ValueError(f"early stopping min_delta must be non-negative, got {min_delta}")
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta
        self.higher_better = higher_is_better(monitor)
        self.best = -math.inf if self.higher_better else math.inf
        self.wait = 0
        self.stopped_epoch: int | None = None

    def improved(self, value: float) -> bool:
        if self.higher_better:
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def on_epoch_end(self, epoch: int, iteration: int, scores: dict[str, float]) -> bool:
        value = scores.get(self.monitor)
        if value is None or math.isnan(value):
            return False
        if self.improved(value):
            self.best, self.wait = value, 0
            return False
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def stop_message(self, epoch: int) -> str:
        return f"stopping early at epoch {epoch}: no improvement (train.early_stopping_patience)"

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "wait": self.wait}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.wait = state["best"], state["wait"]


class TensorBoardLogger(Callback):
    """Writes scalars to TensorBoard event files in ``log_dir`` (rank 0 only), step = iteration.

    Per iteration: ``train/loss_iter``; per epoch: every score (``train_loss`` as ``train/loss``,
    ``val_dice`` as ``val/dice``, ``lr``). On resume, events after the resumed iteration are purged.
    """

    def __init__(self, log_dir: str | Path) -> None:
        self.log_dir = Path(log_dir)
        self.writer: Any = None

    def on_fit_start(self, model: nn.Module, start_epoch: int, iteration: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(self.log_dir), purge_step=iteration + 1 if start_epoch > 1 else None)

    def on_iteration_end(self, iteration: int, values: dict[str, float]) -> None:
        if self.writer is not None:
            self.writer.add_scalar("train/loss_iter", values["loss"], iteration)

    def on_epoch_end(self, epoch: int, iteration: int, scores: dict[str, float]) -> bool:
        if self.writer is not None:
            for key, value in scores.items():
                phase, _, name = key.partition("_")
                tag = f"{phase}/{name}" if phase in ("train", "val") and name else key
                self.writer.add_scalar(tag, value, iteration)
            self.writer.add_scalar("epoch", epoch, iteration)
            self.writer.flush()
        return False

    def on_fit_end(self, model: nn.Module) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class TimeLimit(Callback):
    """Stops once the training time (validation excluded) passes ``max_minutes``; all ranks stop together."""

    stop_reason = "max_minutes"

    def __init__(self, state: TrainState, max_minutes: float) -> None:
        self.state, self.max_minutes = state, max_minutes

    def on_epoch_end(self, epoch: int, iteration: int, scores: dict[str, float]) -> bool:
        out_of_time = self.state.train_seconds > self.max_minutes * 60
        if self.state.place.ctx.distributed:  # ranks time themselves: stop together when one is out of time
            out_of_time = distributed.any_rank(out_of_time)
        return out_of_time

    def stop_message(self, epoch: int) -> str:
        return f"stopping: training time {self.state.train_seconds / 60:.1f} min reached train.max_minutes"


class HistoryRecorder(Callback):
    """Adds the ``history.csv`` rows: every iteration, and each epoch's train and val scores."""

    def __init__(self, state: TrainState) -> None:
        self.state = state

    def on_iteration_end(self, iteration: int, values: dict[str, float]) -> None:
        self.state.history.add(level="iteration", phase="train", epoch=self.state.epoch, iteration=iteration, **values)

    def on_epoch_end(self, epoch: int, iteration: int, scores: dict[str, float]) -> bool:
        common = {
            "epoch": epoch,
            "iteration": iteration,
            "lr": scores["lr"],
            "seconds": round(self.state.train_seconds, 2),
        }
        self.state.history.add(level="epoch", phase="train", **self.state.train_row, **common)
        if "val_loss" in scores:
            val = {name: scores[f"val_{name}"] for name in ("loss", "pixel_accuracy", "dice")}
            self.state.history.add(level="epoch", phase="val", **val, **common)
        return False


def format_duration(seconds: float) -> str:
    """``42 s``, ``3.5 min`` or ``2.1 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class EpochLog(Callback):
    """One line per epoch on rank 0: the scores, the epoch's own time (training and validation), the
    time elapsed since training started (in this process) and whether it is the best so far."""

    def __init__(self, state: TrainState) -> None:
        self.state = state
        self.started = self.last = time.perf_counter()

    def on_fit_start(self, model: nn.Module, start_epoch: int, iteration: int) -> None:
        self.started = self.last = time.perf_counter()

    def on_epoch_end(self, epoch: int, iteration: int, scores: dict[str, float]) -> bool:
        now = time.perf_counter()
        took, elapsed, self.last = now - self.last, now - self.started, now
        shown = "  ".join(f"{k} {v:.4f}" for k, v in scores.items() if k != "lr")
        best = "  *best*" if self.state.improved else ""
        distributed.log_main(
            f"epoch {epoch}/{self.state.config.train.epochs}  {shown}  "
            f"(epoch {format_duration(took)}, elapsed {format_duration(elapsed)}){best}"
        )
        return False
