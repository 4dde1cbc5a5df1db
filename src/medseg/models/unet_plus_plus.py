"""U-Net++ (Zhou et al., 2018) as used in the bone scan segmentation study.

Nested, dense skip pathways: node ``X[i][j]`` (level ``i``, column ``j``) is a double-conv block
over the concatenation of ``X[i][0..j-1]`` and the up-convolved ``X[i+1][j-1]``. With deep
supervision every top node ``X[0][j]`` (``j >= 1``) has its own 1x1 head.

Composed as encoder -> decoder -> head: the encoder is column 0 (``X[i][0]``, 2x2 max-pools
between levels), :class:`NestedDecoder` fills the other columns and returns the top nodes, and
:class:`DeepSupervisionHead` turns them into logits.
"""

from __future__ import annotations

import torch
from torch import nn

from medseg.models.base import Encoder, EncoderDecoder
from medseg.models.blocks import ConvBlock, UpSample, check_channels, check_positive
from medseg.models.registry import MODELS

EVAL_OUTPUTS = ("last", "mean")


class NestedDecoder(nn.Module):
    """The nested, dense skip pathways of U-Net++: every node ``X[i][j]`` with ``j >= 1``.

    Args:
        nodes: ``nodes[i][j - 1]`` is the block of ``X[i][j]``, over ``X[i][0..j-1]`` and the
            up-sampled ``X[i+1][j-1]``; level ``i`` has ``L - 1 - i`` of them.
        ups: ``ups[i][j - 1]`` up-samples ``X[i+1][j-1]`` for ``X[i][j]``.

    ``forward(features)`` takes column 0, ``X[0..L-1][0]`` (the encoder's features), and returns
    the top nodes ``X[0][1..L-1]``, shallowest first.
    """

    def __init__(self, nodes: list[list[nn.Module]], ups: list[list[nn.Module]]) -> None:
        super().__init__()
        if len(nodes) != len(ups) or any(len(n) != len(u) for n, u in zip(nodes, ups, strict=True)):
            raise ValueError("nodes and ups: give one up-sampler per nested node, level by level")
        self.nodes = nn.ModuleList(nn.ModuleList(level) for level in nodes)
        self.ups = nn.ModuleList(nn.ModuleList(level) for level in ups)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        depth = len(self.nodes) + 1
        if len(features) != depth:
            raise ValueError(f"the nested decoder takes {depth} feature maps, got {len(features)}")
        grid: list[list[torch.Tensor]] = [[feature] for feature in features]
        for i in range(1, depth):
            # Filling the anti-diagonal ending at level 0 completes every node X[i-k][k].
            for k in range(1, i + 1):
                level = i - k
                upsampled = self.ups[level][k - 1](grid[level + 1][k - 1])
                grid[level].append(self.nodes[level][k - 1](torch.cat([*grid[level], upsampled], dim=1)))
        return grid[0][1:]


class DeepSupervisionHead(nn.Module):
    """1x1 heads on the top nodes of U-Net++.

    Args:
        in_channels: channels of the top nodes.
        classes: output channels (logits).
        deep_supervision: one head per top node ``X[0][1..L-1]``; otherwise one on ``X[0][L-1]``.
        count: the number of top nodes, ``L - 1``.
        eval_output: with deep supervision, what eval mode returns: ``"last"`` or ``"mean"``.

    ``forward(top_nodes)`` returns the list of every head's logits (shallowest first) only with
    deep supervision while training; otherwise one tensor.
    """

    def __init__(self, in_channels: int, classes: int, deep_supervision: bool, count: int, eval_output: str) -> None:
        super().__init__()
        if eval_output not in EVAL_OUTPUTS:
            raise ValueError(f"eval_output must be one of {EVAL_OUTPUTS}, got {eval_output!r}")
        self.deep_supervision = bool(deep_supervision)
        self.eval_output = eval_output
        self.heads = nn.ModuleList(nn.Conv2d(in_channels, classes, 1) for _ in range(count if deep_supervision else 1))

    def forward(self, top: list[torch.Tensor]) -> torch.Tensor | list[torch.Tensor]:
        nodes = top if self.deep_supervision else top[-1:]
        outputs = [head(node) for head, node in zip(self.heads, nodes, strict=True)]
        if self.deep_supervision and self.training:
            return outputs
        if self.eval_output == "mean" and len(outputs) > 1:
            return torch.stack(outputs).mean(dim=0)
        return outputs[-1]


class UNetPlusPlus(EncoderDecoder):
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
        channels = check_channels(channels)
        check_positive(in_channels=in_channels, classes=classes)
        if eval_output not in EVAL_OUTPUTS:
            raise ValueError(f"eval_output must be one of {EVAL_OUTPUTS}, got {eval_output!r}")
        depth = len(channels)
        pool = nn.MaxPool2d(2)
        # Created level by level, X[i][0], X[i][1..], then the level's up-samplers: the order of
        # the random initialisation.
        levels: list[nn.Module] = []
        nodes: list[list[nn.Module]] = []
        ups: list[list[nn.Module]] = []
        for i, width in enumerate(channels):
            levels.append(ConvBlock(in_channels if i == 0 else channels[i - 1], width, batch_norm))
            if i < depth - 1:
                nodes.append([ConvBlock((j + 1) * width, width, batch_norm) for j in range(1, depth - i)])
                ups.append([UpSample(channels[i + 1], width, upsample) for _ in range(depth - 1 - i)])
        head = DeepSupervisionHead(channels[0], classes, deep_supervision, depth - 1, eval_output)
        super().__init__(
            Encoder(levels, pool),
            NestedDecoder(nodes, ups),
            head,
            multiple=2 ** (depth - 1),
            legacy_prefixes={
                **{f"nodes.{i}.0.": f"encoder.levels.{i}." for i in range(depth)},
                **{f"nodes.{i}.{j}.": f"decoder.nodes.{i}.{j - 1}." for i in range(depth) for j in range(1, depth - i)},
                "ups.": "decoder.ups.",
                "heads.": "head.heads.",
            },
        )

    @property
    def deep_supervision(self) -> bool:
        """Whether every top node has a head (training then returns the list of their logits)."""
        return self.head.deep_supervision

    @property
    def eval_output(self) -> str:
        """With deep supervision, what eval mode returns: ``"last"`` or ``"mean"``."""
        return self.head.eval_output

    @eval_output.setter
    def eval_output(self, value: str) -> None:
        if value not in EVAL_OUTPUTS:
            raise ValueError(f"eval_output must be one of {EVAL_OUTPUTS}, got {value!r}")
        self.head.eval_output = value


@MODELS.register("unet_plus_plus")
def unet_plus_plus(in_channels: int = 1, classes: int = 2, **params) -> UNetPlusPlus:
    return UNetPlusPlus(in_channels=in_channels, classes=classes, **params)
