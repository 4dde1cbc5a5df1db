"""Building blocks shared by the architectures."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvBlock(nn.Sequential):
    """Two 3x3 convolutions, each followed by (optional) batch norm and ReLU."""

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool = True, dropout: float = 0.0) -> None:
        layers: list[nn.Module] = []
        for i in range(2):
            layers.append(
                nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, padding=1, bias=not batch_norm)
            )
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU(inplace=True))
        if dropout > 0:
            layers.append(nn.Dropout2d(dropout))
        super().__init__(*layers)


class UpSample(nn.Module):
    """Doubles the spatial size: 2x2 transposed convolution, or bilinear + 1x1 convolution."""

    def __init__(self, in_channels: int, out_channels: int, mode: str = "transpose") -> None:
        super().__init__()
        if mode == "transpose":
            self.up: nn.Module = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
        elif mode == "bilinear":
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(in_channels, out_channels, 1),
            )
        else:
            raise ValueError(f"upsample must be 'transpose' or 'bilinear', got {mode!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(x)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pads ``(N, C, H, W)`` at the bottom/right to a multiple of ``multiple``; returns the original (H, W)."""
    height, width = x.shape[-2:]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate" if min(height, width) > 1 else "constant")
    return x, (height, width)


def check_channels(channels: list[int] | tuple[int, ...], minimum: int = 2) -> list[int]:
    """Validates a per-level channel list."""
    channels = list(channels)
    if len(channels) < minimum or any(int(c) <= 0 for c in channels):
        raise ValueError(f"channels must list at least {minimum} positive widths, got {channels}")
    return [int(c) for c in channels]
