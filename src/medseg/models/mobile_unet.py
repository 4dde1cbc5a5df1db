"""Improved Attention MobileU-Net (polyp segmentation study; 574,579 parameters reported).

The paper builds a U-Net from sandglass blocks (MobileNeXt, Zhou et al., 2020) in the start /
middle / end orderings of the improved residual networks (iResNet, Duta et al., 2020), with
squeeze-and-excitation channel attention (Hu et al., 2018) after the first depthwise
convolution. Its text fixes the parts; the stem, the blocks per level, the reduction factor, the
transposed layer and the biases are not all stated, so they were reconstructed from the reported
parameter count: of 9.1 million candidate readings enumerated (docs/models.md), exactly one gives
574,579, and it is the one implemented here.

Sandglass block (``C_in -> C_out``, bottleneck ``C_in // 4``): depthwise 3x3 -> SE (ratio 8)
-> 1x1 reduce -> 1x1 expand -> depthwise 3x3. Orderings:

* **A** (start, post-activation, stride 2): ``dw-BN-ReLU6-SE, pw-BN, pw-BN-ReLU6, dw/2-BN``,
  plus the 1x1-conv skip block (iResNet's projection: 3x3 max-pool stride 2, 1x1 conv, BN).
* **B** (middle, pre-activation): ``BN-ReLU6-dw-SE, BN-ReLU6-pw, BN-pw, BN-ReLU6-dw``, plus the
  identity.
* **C** (end): B, then BN + ReLU6 after the addition; a 1x1-conv skip block when the channel
  count changes.
* **transposed C** (decoder): C whose last layer is a 3x3 transposed convolution with stride 2
  (Keras ``Conv2DTranspose``, which has no depthwise form); it changes the shape, and the paper's
  count has no skip block for it, so it has no shortcut.

Network (``filters=16``, ``depth=4``): stem 3x3 conv (3 -> 16) + BN + ReLU6; encoder blocks A of
32, 64, 128 filters (each halves the size; the stem and their outputs are the skips); a bridge of
three blocks A, B, C of 256 filters; per decoder level a transposed block C (to 128, 64, 32, 16),
concatenation with the skip and a block C back to that width; a 1x1 head. Every convolution and
fully connected layer has a bias (the Keras defaults).

Counting: 574,579 is Keras' ``Total params``, which includes the batch norms' moving mean and
variance (two non-trainable values per channel): :func:`medseg.models.profile.keras_parameter_count`.
:func:`medseg.models.count_parameters` (trainable only) gives 560,507 for the same network.

Choices the count cannot decide (no parameters involved): ReLU6 as in MobileNeXt; the stride-2
skip block max-pools before its 1x1 conv as iResNet does (a strided 1x1 conv counts the same); SE
sits after the first depthwise conv's BN + ReLU6 in A and directly after the depthwise conv in B
and C; the transposed convolution uses ``padding=1, output_padding=1`` (exactly twice the size, as
Keras' ``"same"``).
"""

from __future__ import annotations

import torch
from torch import nn

from medseg.models.base import LEGACY_DECODER_PREFIXES, Encoder, EncoderDecoder, UNetDecoder
from medseg.models.blocks import SqueezeExcitation, check_positive
from medseg.models.registry import MODELS

KINDS = ("A", "B", "C")


def _bn_relu(channels: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(channels), nn.ReLU6(inplace=True)]


def _depthwise(channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(channels, channels, 3, stride=stride, padding=1, groups=channels)


class SandglassBlock(nn.Module):
    """One sandglass block in ordering A, B or C, or a transposed C (see the module docstring).

    Args:
        in_channels: input channels ``C_in``.
        out_channels: output channels ``C_out``.
        kind: ``"A"`` (start, post-activation), ``"B"`` (middle, pre-activation) or ``"C"``
            (end: B plus BN + ReLU6 after the addition).
        stride: 2 halves the size (block A only).
        upsample: transposed block C: the last layer is a 3x3 transposed convolution with
            stride 2 that doubles the size; no shortcut.
        reduction: the 1x1 bottleneck has ``max(1, C_in // reduction)`` channels.
        se_ratio: squeeze-and-excitation ratio after the first depthwise convolution; 0 disables it.

    Input ``(N, C_in, H, W)``; output ``(N, C_out, H / stride, W / stride)``, or ``2H x 2W`` with
    ``upsample``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kind: str = "A",
        stride: int = 1,
        upsample: bool = False,
        reduction: int = 4,
        se_ratio: int = 8,
    ) -> None:
        super().__init__()
        check_positive(in_channels=in_channels, out_channels=out_channels, reduction=reduction)
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if stride not in (1, 2) or (stride == 2 and kind != "A"):
            raise ValueError(f"stride must be 1, or 2 for a block A; got stride={stride} for block {kind}")
        if upsample and kind != "C":
            raise ValueError(f"only a block C can be transposed (upsample=True), got block {kind}")
        if se_ratio < 0:
            raise ValueError(f"se_ratio must be 0 (no attention) or positive, got {se_ratio}")
        hidden = max(1, in_channels // reduction)
        attention: nn.Module = SqueezeExcitation(in_channels, se_ratio) if se_ratio else nn.Identity()
        if upsample:
            last: nn.Module = nn.ConvTranspose2d(out_channels, out_channels, 3, stride=2, padding=1, output_padding=1)
        else:
            last = _depthwise(out_channels, stride)
        reduce, expand = nn.Conv2d(in_channels, hidden, 1), nn.Conv2d(hidden, out_channels, 1)
        if kind == "A":
            layers = [
                _depthwise(in_channels),
                *_bn_relu(in_channels),
                attention,
                reduce,
                nn.BatchNorm2d(hidden),
                expand,
                *_bn_relu(out_channels),
                last,
                nn.BatchNorm2d(out_channels),
            ]
        else:
            layers = [
                *_bn_relu(in_channels),
                _depthwise(in_channels),
                attention,
                *_bn_relu(in_channels),
                reduce,
                nn.BatchNorm2d(hidden),
                expand,
                *_bn_relu(out_channels),
                last,
            ]
        self.body = nn.Sequential(*layers)
        self.shortcut: nn.Module | None = nn.Identity()
        if upsample:
            self.shortcut = None
        elif in_channels != out_channels or stride != 1:
            self.shortcut = nn.Sequential(
                nn.MaxPool2d(3, stride=2, padding=1) if stride == 2 else nn.Identity(),
                nn.Conv2d(in_channels, out_channels, 1),
                nn.BatchNorm2d(out_channels),
            )
        self.post: nn.Module = nn.Sequential(*_bn_relu(out_channels)) if kind == "C" else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.post(out)


class MobileUNet(EncoderDecoder):
    """Improved Attention MobileU-Net: sandglass blocks with SE channel attention in a U-Net.

    Args:
        in_channels: image channels (3 in the paper: RGB endoscopy).
        classes: output channels (1 in the paper: a single polyp logit).
        filters: stem width; encoder level ``k`` has ``filters * 2**k`` filters, the bridge
            ``filters * 2**depth``.
        depth: number of down-samplings (and of skip connections).
        bridge_blocks: sandglass blocks in the bridge (A, then B.., then C).
        reduction: sandglass bottleneck reduction factor.
        se_ratio: squeeze-and-excitation ratio (0 disables the channel attention).

    Input ``(N, in_channels, H, W)`` of any size (padded internally); output ``(N, classes, H, W)``.
    """

    def __init__(
        self,
        in_channels: int = 3,
        classes: int = 1,
        filters: int = 16,
        depth: int = 4,
        bridge_blocks: int = 3,
        reduction: int = 4,
        se_ratio: int = 8,
    ) -> None:
        check_positive(
            in_channels=in_channels, classes=classes, filters=filters, depth=depth, bridge_blocks=bridge_blocks
        )
        widths = [filters * 2**k for k in range(depth + 1)]
        options = {"reduction": reduction, "se_ratio": se_ratio}
        stem = nn.Sequential(nn.Conv2d(in_channels, filters, 3, padding=1), *_bn_relu(filters))
        strided = [SandglassBlock(widths[k - 1], widths[k], "A", stride=2, **options) for k in range(1, depth)]
        kinds = ["A"] + ["B"] * (bridge_blocks - 2) + (["C"] if bridge_blocks > 1 else [])
        bridge = nn.Sequential(
            *(
                SandglassBlock(
                    widths[depth - 1] if i == 0 else widths[depth], widths[depth], kind, 2 if i == 0 else 1, **options
                )
                for i, kind in enumerate(kinds)
            )
        )
        ups, blocks = [], []
        for k in reversed(range(depth)):
            ups.append(SandglassBlock(widths[k + 1], widths[k], "C", upsample=True, **options))
            blocks.append(SandglassBlock(2 * widths[k], widths[k], "C", **options))
        head = nn.Conv2d(filters, classes, 1)
        super().__init__(
            Encoder([stem, *strided, bridge]),  # strided blocks: no pooling between levels
            UNetDecoder(blocks, ups),
            head,
            multiple=2**depth,
            legacy_prefixes={
                "stem.": "encoder.levels.0.",
                **{f"encoders.{k}.": f"encoder.levels.{k + 1}." for k in range(depth - 1)},
                "bridge.": f"encoder.levels.{depth}.",
                **LEGACY_DECODER_PREFIXES,
            },
        )


@MODELS.register("mobile_unet")
def mobile_unet(in_channels: int = 3, classes: int = 1, **params) -> MobileUNet:
    return MobileUNet(in_channels=in_channels, classes=classes, **params)
