"""U-Net (Ronneberger et al., MICCAI 2015) with configurable depth and width."""

from __future__ import annotations

from torch import nn

from medseg.models.base import LEGACY_DECODER_PREFIXES, Encoder, EncoderDecoder, UNetDecoder
from medseg.models.blocks import ConvBlock, UpSample, check_channels, check_positive
from medseg.models.registry import MODELS


class UNet(EncoderDecoder):
    """Encoder of double-conv blocks and 2x2 max-pools, mirrored decoder with skip concatenation.

    Args:
        in_channels: image channels.
        classes: output channels (logits).
        channels: width per level, e.g. ``(64, 128, 256, 512, 1024)`` (classic, ~31.0M parameters
            for 1 -> 2 classes) or ``(16, 32, 64, 128, 256)``.
        batch_norm: batch norm after each convolution (the original had none).
        upsample: ``"transpose"`` (2x2 up-convolution, the original) or ``"bilinear"``.
        dropout: dropout after the bottleneck block.

    Input ``(N, in_channels, H, W)`` of any size (padded internally); output ``(N, classes, H, W)``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        classes: int = 2,
        channels: list[int] | tuple[int, ...] = (64, 128, 256, 512, 1024),
        batch_norm: bool = True,
        upsample: str = "transpose",
        dropout: float = 0.0,
    ) -> None:
        channels = check_channels(channels)
        check_positive(in_channels=in_channels, classes=classes)
        levels = []
        previous = in_channels
        for i, width in enumerate(channels):
            levels.append(ConvBlock(previous, width, batch_norm, dropout if i == len(channels) - 1 else 0.0))
            previous = width
        encoder = Encoder(levels, pool=nn.MaxPool2d(2))
        ups, blocks = [], []
        for deep, shallow in zip(reversed(channels[1:]), reversed(channels[:-1]), strict=True):
            ups.append(UpSample(deep, shallow, upsample))
            blocks.append(ConvBlock(2 * shallow, shallow, batch_norm))
        head = nn.Conv2d(channels[0], classes, 1)
        gates = self.attention_gates(channels)  # after the head: the order of the random initialisation
        super().__init__(
            encoder,
            UNetDecoder(blocks, ups, gates),
            head,
            multiple=2 ** (len(channels) - 1),
            legacy_prefixes={"encoders.": "encoder.levels.", **LEGACY_DECODER_PREFIXES},
        )

    def attention_gates(self, channels: list[int]) -> list[nn.Module] | None:
        """The decoder's gates on the skips, deepest first; ``None``: plain concatenation."""
        return None


@MODELS.register("unet")
def unet(in_channels: int = 1, classes: int = 2, **params) -> UNet:
    return UNet(in_channels=in_channels, classes=classes, **params)
