"""What every model here shares: any input size (pad, then crop), and the U shape encoder -> decoder -> head.

As segmentation_models_pytorch composes its models, an architecture file only builds its parts;
:class:`EncoderDecoder` runs them:

- encoder: :meth:`EncoderDecoder.encoder_levels`, shallowest first, the last one the bottleneck
  (bridge), with ``self.pool`` between levels (``None``, the default: the blocks stride themselves);
- decoder: ``self.ups`` and ``self.decoders``, deepest first; each level up-samples, gates the
  skip (with ``self.gates``, one gate per level, when the model has attention gates; ``None``
  by default), concatenates ``[skip, up]`` and runs its block;
- head: ``self.head``, a 1x1 convolution to logits.

:class:`EncoderDecoder` declares ``pool`` and ``gates`` as ``None``; an architecture sets the parts
it has after ``super().__init__()``.
"""

from __future__ import annotations

import torch
from torch import nn

from medseg.models.blocks import pad_to_multiple


class SegmentationNet(nn.Module):
    """Pads ``(N, C, H, W)`` to a multiple of ``self.multiple`` (the total down-sampling), runs
    :meth:`forward_padded` and crops the logits back to ``(N, classes, H, W)`` (each of them when a
    list is returned, deep supervision)."""

    multiple: int = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        x, (height, width) = pad_to_multiple(x, self.multiple)
        logits = self.forward_padded(x)
        if isinstance(logits, list):
            return [item[..., :height, :width] for item in logits]
        return logits[..., :height, :width]

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """Logits of an input whose sides are multiples of ``self.multiple``."""
        raise NotImplementedError


class EncoderDecoder(SegmentationNet):
    """A U-Net-shaped model: encoder levels with skips, a decoder per skip, a 1x1 head."""

    def __init__(self) -> None:
        super().__init__()
        self.pool: nn.Module | None = None
        self.gates: nn.ModuleList | None = None

    def encoder_levels(self) -> list[nn.Module]:
        """The encoder's blocks, shallowest first; the last is the bottleneck."""
        return list(self.encoders)

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Features of every encoder level, shallowest first; ``x`` padded to ``self.multiple``."""
        features = []
        for i, level in enumerate(self.encoder_levels()):
            x = level(x if i == 0 or self.pool is None else self.pool(x))
            features.append(x)
        return features

    def decode(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Decoder output ``(N, channels[0], H, W)`` from the encoder's features (bottleneck last)."""
        gates = self.gates if self.gates is not None else [None] * len(self.ups)
        skips, x = features[:-1], features[-1]
        for gate, up, decoder in zip(gates, self.ups, self.decoders, strict=True):
            skip = skips.pop()
            x = decoder(torch.cat([skip if gate is None else gate(skip, x), up(x)], dim=1))
        return x

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.decode(self.encode(x)))
