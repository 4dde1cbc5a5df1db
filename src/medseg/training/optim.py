"""Optimisers and learning-rate schedules from config."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

from medseg.config import TrainConfig
from medseg.errors import ConfigError

SCHEDULES = ("none", "cosine", "cosine_time", "step", "multistep", "polyp_step", "poly", "plateau")


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (every metric but losses)."""
    return "loss" not in metric


def effective_monitor(monitor: str, has_validation: bool) -> str:
    """The metric a run can actually watch: ``monitor``, or ``train_loss`` when it needs a validation set
    that the run does not have (``val_*`` without validation cases).

    The best checkpoint, the ``plateau`` schedule and early stopping then follow the training loss,
    so a run without validation never keeps an untrained model as its "best" (``-inf``).
    """
    if not has_validation and monitor.startswith("val_"):
        return "train_loss"
    return monitor


def build_optimizer(parameters: Iterable[torch.nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD with momentum (``cfg.optimizer``), with ``cfg.lr`` and ``cfg.weight_decay``."""
    name = cfg.optimizer.lower()
    if name == "adam":
        return torch.optim.Adam(parameters, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(parameters, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    raise ConfigError(f"train.optimizer: unknown optimizer {cfg.optimizer!r}; use adam, adamw or sgd")


def polyp_step_milestones(epochs: int, start: int = 30, every: int = 5) -> list[int]:
    """Epochs after which the polyp study's schedule divides the learning rate.

    After epoch ``start``, then every ``every`` epochs: ``[30, 35, 40, ...]`` below ``epochs``.
    """
    if start < 1 or every < 1:
        raise ValueError(f"polyp_step needs start >= 1 and every >= 1, got start={start}, every={every}")
    return list(range(start, max(epochs, start), every))


class TimeBudgetCosine:
    """Cosine decay over a training-time budget instead of an epoch count ("budgeted training").

    The learning rate after ``t`` seconds of training is ``eta_min + (lr0 - eta_min) * (1 + cos(pi * t / T)) / 2``
    with ``T = train.max_minutes``; it is updated every iteration, so a run cut by the budget still ends
    annealed, whatever the machine's speed.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, budget_seconds: float, eta_min: float = 0.0) -> None:
        if budget_seconds <= 0:
            raise ValueError("the cosine_time schedule needs train.max_minutes > 0")
        self.optimizer, self.budget, self.eta_min = optimizer, budget_seconds, eta_min
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]

    def update(self, seconds: float) -> None:
        """Sets the learning rate for ``seconds`` of training so far."""
        progress = min(max(seconds / self.budget, 0.0), 1.0)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * progress)) / 2

    def step(self) -> None:
        """Epoch ends change nothing: the rate follows time (see :meth:`update`)."""

    def state_dict(self) -> dict[str, Any]:
        return {"budget": self.budget, "eta_min": self.eta_min, "base_lrs": self.base_lrs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.budget, self.eta_min, self.base_lrs = state["budget"], state["eta_min"], state["base_lrs"]


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig, monitor: str | None = None) -> Any | None:
    """Per-epoch schedule (``cfg.scheduler``), stepped once after every epoch.

    - ``none``: constant learning rate.
    - ``cosine``: cosine decay to ``eta_min`` (default 0) over ``t_max`` (default ``cfg.epochs``) epochs.
    - ``cosine_time``: cosine decay over the training-time budget ``cfg.max_minutes``, updated every
      iteration (:class:`TimeBudgetCosine`).
    - ``step`` / ``multistep``: multiply by ``gamma`` every ``step_size`` epochs / after each of ``milestones``.
    - ``polyp_step``: the polyp study's schedule: divide by 10 after epoch ``start`` (30) and again
      every ``every`` (5) epochs; ``factor`` (0.1) is the multiplier.
    - ``poly``: polynomial decay ``(1 - epoch / total_iters) ** power`` (defaults ``cfg.epochs``, 1.0).
    - ``plateau``: multiply by ``factor`` (0.1) when ``monitor`` (default ``cfg.monitor``; see
      :func:`effective_monitor` for runs without validation) has not improved for ``patience`` (10)
      epochs; ``mode`` follows the metric (max for Dice, min for losses).

    ``cfg.scheduler_params`` go to the PyTorch scheduler (e.g. ``step_size``, ``gamma``).

    Raises:
        ConfigError: unknown schedule or parameters.
    """
    name, params = cfg.scheduler.lower(), dict(cfg.scheduler_params)
    sched = torch.optim.lr_scheduler
    try:
        if name == "none":
            return None
        if name == "cosine":
            return sched.CosineAnnealingLR(optimizer, T_max=params.pop("t_max", cfg.epochs), **params)
        if name == "cosine_time":
            return TimeBudgetCosine(optimizer, (cfg.max_minutes or 0) * 60, **params)
        if name == "step":
            return sched.StepLR(optimizer, **params)
        if name == "multistep":
            return sched.MultiStepLR(optimizer, **params)
        if name == "polyp_step":
            factor = params.pop("factor", 0.1)
            milestones = polyp_step_milestones(cfg.epochs, params.pop("start", 30), params.pop("every", 5))
            if params:
                raise TypeError(f"unexpected parameters {sorted(params)} (polyp_step takes start, every, factor)")
            return sched.MultiStepLR(optimizer, milestones=milestones, gamma=factor)
        if name == "poly":
            return sched.PolynomialLR(optimizer, total_iters=params.pop("total_iters", cfg.epochs), **params)
        if name == "plateau":
            params.setdefault("mode", "max" if higher_is_better(monitor or cfg.monitor) else "min")
            return sched.ReduceLROnPlateau(optimizer, **params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"train.scheduler_params for {name!r}: {exc}") from None
    raise ConfigError(f"train.scheduler: unknown schedule {cfg.scheduler!r}; use {', '.join(SCHEDULES)}")
