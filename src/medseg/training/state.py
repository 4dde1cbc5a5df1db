"""What a training run holds between steps, built once by :func:`build_state`.

:class:`TrainState` is the one object the fit loop and its callbacks share (as MONAI's
``engine.state``): the network, optimiser, schedule, scaler, loaders, counters and best score.
Its checkpoint form is :mod:`medseg.training.checkpointing`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler

from medseg.config import Config, TrainConfig
from medseg.data.case import Case
from medseg.data.dataset import SegmentationDataset
from medseg.errors import ConfigError
from medseg.losses import DeepSupervisionLoss, create_loss
from medseg.models import output_channels
from medseg.models.checkpoint import load_initial_weights, model_from_spec
from medseg.run_folder import RunFolder
from medseg.training import distributed, progressive
from medseg.training.history import History
from medseg.training.optim import build_optimizer, build_scheduler, effective_monitor, higher_is_better


def memory_format_of(train_cfg: TrainConfig) -> torch.memory_format:
    """Channels-last (NHWC) for ``train.channels_last``, else PyTorch's default (NCHW)."""
    return torch.channels_last if train_cfg.channels_last else torch.contiguous_format


@dataclass
class TrainState:
    """Everything one training process holds; ``net`` is the bare model, ``model`` its DDP wrapper."""

    config: Config
    run_dir: Path
    place: distributed.Placement
    net: nn.Module
    model: nn.Module
    model_spec: dict[str, Any]
    loss_fn: DeepSupervisionLoss
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler | None
    generator: torch.Generator
    train_set: SegmentationDataset
    train_loader: DataLoader
    val_loader: DataLoader | None
    history: History
    best_score: float
    monitor: str  # train.monitor, or train_loss when it needs validation cases the run does not have
    best_epoch: int = 0
    start_epoch: int = 1
    epoch: int = 0
    iteration: int = 0
    train_seconds: float = 0.0
    improved: bool = False
    train_row: dict[str, float] = field(default_factory=dict)

    @property
    def amp(self) -> bool:
        return self.scaler is not None

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        """The dtype this epoch's forward passes run in (:meth:`autocast_dtype_at`)."""
        return self.autocast_dtype_at(self.epoch)

    def autocast_dtype_at(self, epoch: int) -> torch.dtype | None:
        """The dtype the forward passes of ``epoch`` run in: float16 under ``train.amp`` on CUDA, bfloat16
        under ``train.cpu_bf16`` on a CPU (up to epoch ``train.cpu_bf16_epochs`` when set), else None
        (float32)."""
        if self.amp:
            return torch.float16
        train_cfg = self.config.train
        if train_cfg.cpu_bf16 and self.device.type == "cpu":
            last = train_cfg.cpu_bf16_epochs
            return torch.bfloat16 if last is None or epoch <= last else None
        return None

    def train_size_at(self, epoch: int) -> tuple[int, int] | None:
        """The ``(H, W)`` the training batches of ``epoch`` are resized to (``train.progressive_resize``), or
        None: the data's size."""
        return progressive.size_at(self.config.train.progressive_resize, epoch)

    @property
    def device(self) -> torch.device:
        return self.place.device

    @property
    def memory_format(self) -> torch.memory_format:
        """The layout of the model's weights and of every batch (``train.channels_last``)."""
        return memory_format_of(self.config.train)

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def update_best(self, scores: dict[str, float]) -> None:
        """Sets ``improved`` (and the best score and epoch) from this epoch's :attr:`monitor` score."""
        score = scores.get(self.monitor)
        better = higher_is_better(self.monitor)
        self.improved = score is not None and (score > self.best_score if better else score < self.best_score)
        if self.improved:
            self.best_score, self.best_epoch = score, self.epoch


def compiled_for_training(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` compiled by ``torch.compile`` (Inductor) for the training steps.

    Only the training forward pass runs compiled: validation and checkpoints use the plain module,
    which shares the parameters, so the checkpoint's keys and the evaluation code are unchanged. The
    first step compiles (about a minute on two CPU cores), which the training clock includes.
    """
    return torch.compile(model)


def model_spec_of(config: Config) -> dict[str, Any]:
    """What a checkpoint records to rebuild the model: name, params, in_channels, classes."""
    return {
        "name": config.model.name,
        "params": dict(config.model.params),
        "in_channels": config.data.channels,
        "classes": output_channels(config.data.num_classes, config.model.out_channels),
    }


def build_state(
    config: Config, train_cases: list[Case], val_cases: list[Case], run_dir: Path, warm_start: bool = True
) -> TrainState:
    """Data loaders, model (DDP-wrapped under ``torchrun``), loss, optimiser, schedule and scaler.

    The global random generators must be seeded before: the model's initial weights draw from them.
    With ``warm_start`` (not when resuming) the weights of ``train.init_weights`` replace them.
    """
    cfg, train_cfg = config, config.train
    place = distributed.place(train_cfg.device, train_cfg.batch_size)
    train_set = SegmentationDataset(train_cases, cfg.data, cfg.augment)
    val_set = SegmentationDataset(val_cases, cfg.data) if val_cases else None
    generator = torch.Generator().manual_seed(train_cfg.seed)
    sampler = RandomSampler(
        train_set,
        replacement=train_cfg.iterations_per_epoch is not None,
        num_samples=(train_cfg.iterations_per_epoch or 0) * train_cfg.batch_size or None,
        generator=generator,
    )
    train_loader, val_loader = distributed.loaders(place, train_set, sampler, val_set, train_cfg.num_workers)

    model_spec = model_spec_of(cfg)
    net = model_from_spec(model_spec)
    if train_cfg.init_weights and warm_start:
        source = load_initial_weights(net, model_spec, train_cfg.init_weights)
        distributed.log_main(f"weights from {source} (optimiser and schedule start afresh)")
    net = net.to(place.device, memory_format=memory_format_of(train_cfg))
    model = distributed.wrap_model(net, place.ctx, place.device, train_cfg.sync_batchnorm)
    net = distributed.unwrap_model(model)
    if train_cfg.compile:
        model = compiled_for_training(model)
    try:
        loss_fn = DeepSupervisionLoss(
            create_loss(train_cfg.loss, **train_cfg.loss_params),
            train_cfg.deep_supervision,
            train_cfg.deep_supervision_weights,
        )
    except ValueError as exc:
        raise ConfigError(f"train.deep_supervision: {exc}") from None
    optimizer = build_optimizer(model.parameters(), train_cfg)
    monitor = effective_monitor(train_cfg.monitor, val_loader is not None)
    amp = train_cfg.amp and place.device.type == "cuda"
    return TrainState(
        config=config,
        run_dir=run_dir,
        place=place,
        net=net,
        model=model,
        model_spec=model_spec,
        loss_fn=loss_fn,
        optimizer=optimizer,
        scheduler=build_scheduler(optimizer, train_cfg, monitor),
        scaler=torch.amp.GradScaler("cuda") if amp else None,
        generator=generator,
        train_set=train_set,
        train_loader=train_loader,
        val_loader=val_loader,
        history=History(RunFolder(run_dir).history),
        best_score=-math.inf if higher_is_better(monitor) else math.inf,
        monitor=monitor,
    )
