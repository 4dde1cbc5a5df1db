"""Residual Attention U-Net as used in the liver and liver-tumour segmentation study.

Encoder: residual blocks (two 3x3 convolutions with batch norm and ReLU, identity or 1x1
projection shortcut) of 64, 128 and 256 filters, each followed by a 2x2 max-pool; a residual
bridge block of 512 filters. Decoder (256, 128, 64): 2x2 up-convolution, an attention block on
the skip (``theta_x`` and ``phi_g`` 1x1 convolutions, added, ReLU, sigmoid map, multiply),
concatenation and a residual block. A 1x1 convolution gives the logits.
"""

from __future__ import annotations

from torch import nn

from medseg.models.base import LEGACY_DECODER_PREFIXES, Encoder, EncoderDecoder, UNetDecoder
from medseg.models.blocks import AttentionGate, ResidualBlock, UpSample, check_channels, check_positive
from medseg.models.registry import MODELS


class ResAttentionUNet(EncoderDecoder):
    """U-Net of residual blocks with attention-gated skip connections.

    Args:
        in_channels: image channels.
        classes: output channels (logits).
        channels: encoder widths then the bridge width (default ``(64, 128, 256, 512)``); the
            decoder mirrors the encoder.
        upsample: ``"transpose"`` (2x2 up-convolution) or ``"bilinear"``.
        dropout: dropout in the bridge block.

    Input ``(N, in_channels, H, W)`` of any size (padded internally); output ``(N, classes, H, W)``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        classes: int = 2,
        channels: list[int] | tuple[int, ...] = (64, 128, 256, 512),
        upsample: str = "transpose",
        dropout: float = 0.0,
    ) -> None:
        channels = check_channels(channels)
        check_positive(in_channels=in_channels, classes=classes)
        levels = []
        previous = in_channels
        for width in channels[:-1]:
            levels.append(ResidualBlock(previous, width))
            previous = width
        pool = nn.MaxPool2d(2)
        levels.append(ResidualBlock(previous, channels[-1], dropout))  # the bridge
        gates, ups, blocks = [], [], []
        for deep, shallow in zip(reversed(channels[1:]), reversed(channels[:-1]), strict=True):
            gates.append(AttentionGate(shallow, deep))
            ups.append(UpSample(deep, shallow, upsample))
            blocks.append(ResidualBlock(2 * shallow, shallow))
        head = nn.Conv2d(channels[0], classes, 1)
        super().__init__(
            Encoder(levels, pool),
            UNetDecoder(blocks, ups, gates),
            head,
            multiple=2 ** (len(channels) - 1),
            legacy_prefixes={
                "encoders.": "encoder.levels.",
                "bridge.": f"encoder.levels.{len(channels) - 1}.",
                **LEGACY_DECODER_PREFIXES,
            },
        )


@MODELS.register("res_attention_unet")
def res_attention_unet(in_channels: int = 1, classes: int = 2, **params) -> ResAttentionUNet:
    return ResAttentionUNet(in_channels=in_channels, classes=classes, **params)
