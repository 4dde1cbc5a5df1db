"""ResU-Net: a U-Net of residual units (Zhang et al., 2018), as MONAI's ``UNet`` builds it.

MONAI nests the network as ``Sequential(down, SkipConnection(inner), up)`` from the top level to
the bottom unit. :func:`split_monai_unet` unwraps that structure into its layers, which are then
composed explicitly: an :class:`~medseg.models.base.Encoder` of the strided down units and the
bottom unit (no pooling), a :class:`~medseg.models.base.UNetDecoder` whose blocks are MONAI's up
layers (each concatenates ``[skip, deeper]`` first, then up-samples with a transposed
convolution and a residual unit), and no separate head: MONAI's top up layer already ends in a
convolution to ``classes`` channels without normalisation or activation.
"""

from __future__ import annotations

from torch import nn

from medseg.models.base import Encoder, EncoderDecoder, UNetDecoder
from medseg.models.blocks import check_channels, check_dropout, check_positive
from medseg.models.registry import MODELS


def split_monai_unet(net: nn.Module) -> tuple[list[nn.Module], list[nn.Module]]:
    """The layers of a MONAI ``UNet``: encoder levels (down units, then the bottom unit) and up
    layers (deepest first).

    Raises:
        ValueError: a structure other than MONAI's nesting with concatenating skip connections.
    """
    from monai.networks.layers import SkipConnection  # MONAI loads in ~2 s: imported when a ResU-Net is built

    downs: list[nn.Module] = []
    ups: list[nn.Module] = []
    block = net.model
    while isinstance(block, nn.Sequential) and len(block) == 3 and isinstance(block[1], SkipConnection):
        down, skip, up = block
        if skip.mode != "cat" or skip.dim != 1:
            raise ValueError(f"MONAI UNet skip connection mode={skip.mode!r}, dim={skip.dim}: only 'cat' on 1 splits")
        downs.append(down)
        ups.append(up)
        block = skip.submodule
    if not downs:
        raise ValueError("not a MONAI UNet: no Sequential(down, SkipConnection, up) at its top")
    return [*downs, block], ups[::-1]


class ResUNet(EncoderDecoder):
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
        channels = check_channels(channels)
        check_positive(in_channels=in_channels, classes=classes, res_units=res_units)
        dropout = check_dropout(dropout)
        from monai.networks.nets import UNet as MonaiUNet

        net = MonaiUNet(
            spatial_dims=2,
            in_channels=in_channels,
            out_channels=classes,
            channels=channels,
            strides=[2] * (len(channels) - 1),
            num_res_units=res_units,
            norm="batch",
            dropout=dropout,
        )
        levels, ups = split_monai_unet(net)
        bottom = len(channels) - 1
        # MONAI's keys: level k's Sequential sits under "1.submodule." k times.
        nested = [f"net.model.{'1.submodule.' * k}" for k in range(bottom + 1)]
        super().__init__(
            Encoder(levels),  # strided units: no pooling between levels
            UNetDecoder(ups),
            nn.Identity(),  # the top up layer ends in the convolution to the logits
            multiple=2**bottom,
            legacy_prefixes={
                **{f"{nested[k]}0.": f"encoder.levels.{k}." for k in range(bottom)},
                **{f"{nested[k]}2.": f"decoder.blocks.{bottom - 1 - k}." for k in range(bottom)},
                nested[bottom]: f"encoder.levels.{bottom}.",
            },
        )


@MODELS.register("res_unet")
def res_unet(in_channels: int = 3, classes: int = 1, **params) -> ResUNet:
    return ResUNet(in_channels=in_channels, classes=classes, **params)
