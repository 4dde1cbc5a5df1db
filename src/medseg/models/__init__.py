"""Model zoo: ``create_model(name, in_channels=.., classes=.., **params)``.

Adding an architecture is one new module defining a factory decorated with
``@MODELS.register("name")`` and one import line below. Models return logits ``(N, C, H, W)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from medseg.errors import ConfigError
from medseg.registry import Registry

MODELS: Registry = Registry("model")


def create_model(name: str, in_channels: int = 1, classes: int = 2, **params: Any) -> nn.Module:
    """Builds a registered model.

    Raises:
        ConfigError: unknown name (lists the known ones) or invalid parameters.
    """
    try:
        factory = MODELS.get(name)
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from None
    try:
        return factory(in_channels=in_channels, classes=classes, **params)
    except TypeError as exc:
        raise ConfigError(f"model {name!r}: {exc}") from None


def output_channels(num_classes: int, out_channels: int | None = None) -> int:
    """Channels a model must output: ``num_classes``, or 1 for a single-logit binary model."""
    if out_channels is None:
        return num_classes
    if out_channels == 1 and num_classes == 2:
        return 1
    if out_channels != num_classes:
        raise ConfigError(f"model.out_channels={out_channels} does not fit {num_classes} classes (use 1 for binary)")
    return out_channels


def to_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities ``(N, max(C, 2), H, W)`` from logits ``(N, C, H, W)``.

    A single-channel output is a binary model's foreground logit (sigmoid); several channels are
    mutually exclusive classes (softmax).
    """
    if logits.shape[1] == 1:
        foreground = torch.sigmoid(logits)
        return torch.cat([1 - foreground, foreground], dim=1)
    return torch.softmax(logits, dim=1)


def list_models() -> list[str]:
    return MODELS.names()


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# One line per architecture module; importing it registers its factory.
from medseg.models import (  # noqa: E402
    attention_unet,  # noqa: F401
    mobile_unet,  # noqa: F401
    res_attention_unet,  # noqa: F401
    res_unet,  # noqa: F401
    unet,  # noqa: F401
    unet_plus_plus,  # noqa: F401
)
