"""U-Net++ (Zhou et al., 2018) as used in the bone scan segmentation study.

Nested, dense skip pathways: node ``X[i][j]`` (level ``i``, column ``j``) is a double-conv block
over the concatenation of ``X[i][0..j-1]`` and the up-convolved ``X[i+1][j-1]``. With deep
supervision every top node ``X[0][j]`` (``j >= 1``) has its own 1x1 head.
"""

from __future__ import annotations

import torch
from torch import nn

from medseg.models.base import SegmentationNet
from medseg.models.blocks import ConvBlock, UpSample, check_channels, check_positive
from medseg.models.registry import MODELS

EVAL_OUTPUTS = ("last", "mean")


class UNetPlusPlus(SegmentationNet):
    """Nested U-Net with optional deep supervision.

    Args:
        in_channels: image channels.
        classes: output channels (logits).
        channels: width per level, deepest last (default ``(32, 64, 128, 256, 512)``, the paper's).
        deep_supervision: a 1x1 head on every top node ``X[0][1..L-1]``.
        eval_output: with deep supervision, what eval mode returns: ``"last"`` (the deepest
            head, ``X[0][L-1]``) or ``"mean"`` (the average of all heads' logits).
        batch_norm: batch norm after each convolution.
        upsample: ``"transpose"`` (2x2 up-convolution) or ``"bilinear"``.

    Input ``(N, in_channels, H, W)`` of any size (padded internally). Output ``(N, classes, H, W)``;
    only when ``deep_supervision`` is on and the model is training, a list of ``L - 1`` such
    tensors (heads of ``X[0][1]`` .. ``X[0][L-1]``, shallowest first).
    """

    def __init__(
        self,
        in_channels: int = 1,
        classes: int = 2,
        channels: list[int] | tuple[int, ...] = (32, 64, 128, 256, 512),
        deep_supervision: bool = False,
        eval_output: str = "last",
        batch_norm: bool = True,
        upsample: str = "transpose",
    ) -> None:
        super().__init__()
        channels = check_channels(channels)
        check_positive(in_channels=in_channels, classes=classes)
        if eval_output not in EVAL_OUTPUTS:
            raise ValueError(f"eval_output must be one of {EVAL_OUTPUTS}, got {eval_output!r}")
        self.depth = len(channels)
        self.multiple = 2 ** (self.depth - 1)
        self.deep_supervision = bool(deep_supervision)
        self.eval_output = eval_output
        self.pool = nn.MaxPool2d(2)
        # nodes[i][j] is X[i][j]; ups[i][j] up-convolves X[i+1][j] for column j + 1 of level i.
        self.nodes = nn.ModuleList()
        self.ups = nn.ModuleList()
        for i, width in enumerate(channels):
            level = nn.ModuleList([ConvBlock(in_channels if i == 0 else channels[i - 1], width, batch_norm)])
            for j in range(1, self.depth - i):
                level.append(ConvBlock((j + 1) * width, width, batch_norm))
            self.nodes.append(level)
            if i < self.depth - 1:
                self.ups.append(
                    nn.ModuleList(UpSample(channels[i + 1], width, upsample) for _ in range(self.depth - 1 - i))
                )
        heads = self.depth - 1 if self.deep_supervision else 1
        self.heads = nn.ModuleList(nn.Conv2d(channels[0], classes, 1) for _ in range(heads))

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        grid: list[list[torch.Tensor]] = [[] for _ in range(self.depth)]
        for i in range(self.depth):
            grid[i].append(self.nodes[i][0](x if i == 0 else self.pool(grid[i - 1][0])))
            # Filling the anti-diagonal ending at level 0 completes every node X[i-k][k].
            for k in range(1, i + 1):
                level = i - k
                upsampled = self.ups[level][k - 1](grid[level + 1][k - 1])
                grid[level].append(self.nodes[level][k](torch.cat([*grid[level], upsampled], dim=1)))
        top = grid[0][1:] if self.deep_supervision else grid[0][-1:]
        outputs = [head(node) for head, node in zip(self.heads, top, strict=True)]
        if self.deep_supervision and self.training:
            return outputs
        if self.eval_output == "mean" and len(outputs) > 1:
            return torch.stack(outputs).mean(dim=0)
        return outputs[-1]


@MODELS.register("unet_plus_plus")
def unet_plus_plus(in_channels: int = 1, classes: int = 2, **params) -> UNetPlusPlus:
    return UNetPlusPlus(in_channels=in_channels, classes=classes, **params)
