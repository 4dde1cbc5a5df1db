"""Optimisers and learning-rate schedules from config."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from medseg.config import TrainConfig
from medseg.errors import ConfigError


def build_optimizer(parameters: Iterable[torch.nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD with momentum (``cfg.optimizer``)."""
    name = cfg.optimizer.lower()
    if name == "adam":
        return torch.optim.Adam(parameters, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(parameters, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    raise ConfigError(f"train.optimizer: unknown optimizer {cfg.optimizer!r}; use adam, adamw or sgd")


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> Any | None:
    """Per-epoch schedule (``cfg.scheduler``): none, cosine, step, multistep, poly or plateau.

    ``cfg.scheduler_params`` go to the PyTorch scheduler (e.g. ``step_size``, ``gamma``).
    """
    name, params = cfg.scheduler.lower(), dict(cfg.scheduler_params)
    sched = torch.optim.lr_scheduler
    try:
        if name == "none":
            return None
        if name == "cosine":
            return sched.CosineAnnealingLR(optimizer, T_max=params.pop("t_max", cfg.epochs), **params)
        if name == "step":
            return sched.StepLR(optimizer, **params)
        if name == "multistep":
            return sched.MultiStepLR(optimizer, **params)
        if name == "poly":
            return sched.PolynomialLR(optimizer, total_iters=params.pop("total_iters", cfg.epochs), **params)
        if name == "plateau":
            return sched.ReduceLROnPlateau(optimizer, **params)
    except TypeError as exc:
        raise ConfigError(f"train.scheduler_params for {name!r}: {exc}") from None
    raise ConfigError(f"train.scheduler: unknown schedule {cfg.scheduler!r}")
