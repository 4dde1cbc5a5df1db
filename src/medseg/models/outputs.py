"""What a model's output means: how many channels it has, how logits become probabilities."""

from __future__ import annotations

import torch
from torch import nn

from medseg.errors import ConfigError


def output_channels(num_classes: int, out_channels: int | None = None) -> int:
    """Channels a model must output: ``num_classes``, or 1 for a single-logit binary model."""
    if out_channels is None:
        return num_classes
    if out_channels == 1 and num_classes == 2:
        return 1
    if out_channels != num_classes:
        raise ConfigError(
            f"model.out_channels={out_channels} does not fit {num_classes} classes: "
            f"set it to {num_classes}, or to 1 for a binary model"
        )
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


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters of ``model`` (PyTorch's count; see ``profile.keras_parameter_count``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
