"""Attention U-Net (Oktay et al., 2018) as used in the lung nodule segmentation study.

Encoder: per level two 3x3 convolutions + ReLU and a 2x2 max-pool; widths ``(16, 32, 64, 128,
256)``, so a 64x64 input reaches 4x4x256 at the bottom. Decoder: 2x2 up-convolution, an additive
attention gate on the skip (gating signal: the deeper decoder features), concatenation and two
3x3 convolutions. A 1x1 convolution gives the logits.
"""

from __future__ import annotations

import torch
from torch import nn

from medseg.models.blocks import AttentionGate, pad_to_multiple
from medseg.models.registry import MODELS
from medseg.models.unet import UNet


class AttentionUNet(UNet):
    """U-Net whose skip connections pass through attention gates.

    Args:
        in_channels: image channels.
        classes: output channels (logits).
        channels: width per level, deepest last (default ``(16, 32, 64, 128, 256)``).
        batch_norm: batch norm after each convolution (the study used none).
        upsample: ``"transpose"`` (2x2 up-convolution) or ``"bilinear"``.
        dropout: dropout after the bottom block.

    Input ``(N, in_channels, H, W)`` of any size (padded internally); output ``(N, classes, H, W)``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        classes: int = 2,
        channels: list[int] | tuple[int, ...] = (16, 32, 64, 128, 256),
        batch_norm: bool = False,
        upsample: str = "transpose",
        dropout: float = 0.0,
    ) -> None:
        super().__init__(in_channels, classes, channels, batch_norm, upsample, dropout)

    def attention_gates(self, channels: list[int]) -> list[nn.Module]:
        """One :class:`AttentionGate` per skip, deepest first (gating signal: the deeper features)."""
        return [
            AttentionGate(shallow, deep)
            for deep, shallow in zip(reversed(channels[1:]), reversed(channels[:-1]), strict=True)
        ]

    def bottom(self, x: torch.Tensor) -> torch.Tensor:
        """Features at the bottom of the encoder: ``(N, channels[-1], H / 2**(L-1), W / 2**(L-1))``."""
        return self.encoder(pad_to_multiple(x, self.multiple)[0])[-1]


@MODELS.register("attention_unet")
def attention_unet(in_channels: int = 1, classes: int = 2, **params) -> AttentionUNet:
    return AttentionUNet(in_channels=in_channels, classes=classes, **params)
