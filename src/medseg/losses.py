"""Segmentation losses over logits ``(N, C, H, W)`` and integer targets ``(N, 1, H, W)``.

Thin wrappers over MONAI where its definition matches. ``create_loss(name, **params)``.
"""

from __future__ import annotations

from typing import Any

import torch
from monai import losses as ml
from torch import nn

from medseg.errors import ConfigError
from medseg.registry import Registry

LOSSES: Registry = Registry("loss")


class CrossEntropy(nn.Module):
    """Softmax cross-entropy; targets ``(N, 1, H, W)`` or ``(N, H, W)`` int64."""

    def __init__(self, weight: list[float] | None = None) -> None:
        super().__init__()
        self.loss = nn.CrossEntropyLoss(weight=torch.tensor(weight) if weight else None)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.loss(logits, target.reshape(target.shape[0], *target.shape[-2:]).long())


@LOSSES.register("ce")
def cross_entropy(weight: list[float] | None = None) -> nn.Module:
    return CrossEntropy(weight)


@LOSSES.register("dice")
def dice(include_background: bool = False, smooth: float = 1e-5) -> nn.Module:
    """Soft Dice over the softmax of the logits (foreground classes by default)."""
    return ml.DiceLoss(
        include_background=include_background, to_onehot_y=True, softmax=True, smooth_nr=smooth, smooth_dr=smooth
    )


@LOSSES.register("dice_ce")
def dice_ce(include_background: bool = False, lambda_dice: float = 1.0, lambda_ce: float = 1.0) -> nn.Module:
    """Soft Dice + cross-entropy (MONAI ``DiceCELoss``)."""
    return ml.DiceCELoss(
        include_background=include_background,
        to_onehot_y=True,
        softmax=True,
        lambda_dice=lambda_dice,
        lambda_ce=lambda_ce,
    )


def create_loss(name: str, **params: Any) -> nn.Module:
    """Builds a registered loss.

    Raises:
        ConfigError: unknown name or bad parameters.
    """
    try:
        factory = LOSSES.get(name)
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from None
    try:
        return factory(**params)
    except TypeError as exc:
        raise ConfigError(f"loss {name!r}: {exc}") from None
