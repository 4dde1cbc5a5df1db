"""ResU-Net: a U-Net of residual units (Zhang et al., 2018), as MONAI's ``UNet`` builds it."""

from __future__ import annotations

import torch
from monai.networks.nets import UNet as MonaiUNet

from medseg.models.base import SegmentationNet
from medseg.models.blocks import check_channels, check_dropout, check_positive
from medseg.models.registry import MODELS


class ResUNet(SegmentationNet):
    """MONAI's residual U-Net (strided-convolution down-sampling, ``res_units`` units per level).

    Args:
        in_channels: image channels.
        classes: output channels (logits).
        channels: width per level, deepest last, e.g. ``(32, 64, 128, 256, 512)``.
        res_units: residual units per block.
        dropout: dropout probability in every unit.

    Input ``(N, in_channels, H, W)`` of any size (padded internally); output ``(N, classes, H, W)``.
    """

    def __init__(
        self,
        in_channels: int = 3,
        classes: int = 1,
        channels: list[int] | tuple[int, ...] = (32, 64, 128, 256, 512),
        res_units: int = 2,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        channels = check_channels(channels)
        check_positive(in_channels=in_channels, classes=classes, res_units=res_units)
        dropout = check_dropout(dropout)
        self.multiple = 2 ** (len(channels) - 1)
        self.net = MonaiUNet(
            spatial_dims=2,
            in_channels=in_channels,
            out_channels=classes,
            channels=channels,
            strides=[2] * (len(channels) - 1),
            num_res_units=res_units,
            norm="batch",
            dropout=dropout,
        )

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@MODELS.register("res_unet")
def res_unet(in_channels: int = 3, classes: int = 1, **params) -> ResUNet:
    return ResUNet(in_channels=in_channels, classes=classes, **params)
