"""What every model here shares: any input size (pad, then crop), and explicit encoder -> decoder -> head.

As segmentation_models_pytorch composes its models, an architecture file builds three parts and
hands them to :class:`EncoderDecoder`, whose forward is ``head(decoder(encoder(x)))``:

- encoder: an :class:`Encoder` of levels, shallowest first, the last the bottleneck (bridge),
  with an optional ``pool`` between levels (``None``: the levels stride themselves); it returns
  the features of every level;
- decoder: a module that takes that list and returns the decoder's output; for the plain U-Net
  family :class:`UNetDecoder` (up-samplers, optional attention gates, blocks; deepest first);
  U-Net++ has its own nested decoder;
- head: usually a 1x1 convolution to logits.

The parts are constructor arguments, never looked up by attribute name, and the architecture
creates their layers in a fixed order (the order decides the random initialisation).

Checkpoints written when the parts were attributes of the model itself (``encoders.0...``) keep
loading: an architecture passes ``legacy_prefixes``, old key prefix -> new one, and a
``load_state_dict`` pre-hook renames the old keys (:func:`rename_legacy_keys`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from medseg.models.blocks import pad_to_multiple

# Where the U-Net decoder's parts were saved before they moved into :class:`UNetDecoder`.
LEGACY_DECODER_PREFIXES = {"gates.": "decoder.gates.", "ups.": "decoder.ups.", "decoders.": "decoder.blocks."}


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


class Encoder(nn.Module):
    """Levels run one after the other; ``forward`` returns every level's output, shallowest first.

    Args:
        levels: the encoder's blocks, shallowest first; the last is the bottleneck (bridge).
        pool: applied before every level but the first (e.g. a 2x2 max-pool); ``None`` when the
            levels down-sample themselves (strided blocks).
    """

    def __init__(self, levels: Sequence[nn.Module], pool: nn.Module | None = None) -> None:
        super().__init__()
        if len(levels) < 2:
            raise ValueError(f"an encoder needs 2 or more levels (the last is the bottleneck), got {len(levels)}")
        self.levels = nn.ModuleList(levels)
        self.pool = pool

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for i, level in enumerate(self.levels):
            x = level(x if i == 0 or self.pool is None else self.pool(x))
            features.append(x)
        return features


class UNetDecoder(nn.Module):
    """The U-Net decoder: one level per skip, deepest first.

    Each level up-samples the deeper features (``ups``), gates the skip (``gates``, attention),
    concatenates ``[skip, up]`` and runs its block. Without ``ups`` the concatenation comes first
    and the block up-samples itself (MONAI's ``UNet`` does so).

    Args:
        blocks: one block per level, deepest first.
        ups: one up-sampler per level, deepest first, or ``None``.
        gates: one attention gate per level (called as ``gate(skip, deeper)``), or ``None``.

    ``forward(features)`` takes the encoder's features (shallowest first, bottleneck last) and
    returns the last block's output.
    """

    def __init__(
        self,
        blocks: Sequence[nn.Module],
        ups: Sequence[nn.Module] | None = None,
        gates: Sequence[nn.Module] | None = None,
    ) -> None:
        super().__init__()
        for what, parts in (("ups", ups), ("gates", gates)):
            if parts is not None and len(parts) != len(blocks):
                raise ValueError(f"{what}: give one per decoder block ({len(blocks)}), got {len(parts)}")
        # Registered gates, ups, blocks: the parameter order of the models saved before (optimiser state).
        self.gates = nn.ModuleList(gates) if gates is not None else None
        self.ups = nn.ModuleList(ups) if ups is not None else None
        self.blocks = nn.ModuleList(blocks)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        if len(features) != len(self.blocks) + 1:
            raise ValueError(f"the decoder takes {len(self.blocks) + 1} feature maps, got {len(features)}")
        x = features[-1]
        for level, block in enumerate(self.blocks):
            skip = features[-2 - level]
            if self.gates is not None:
                skip = self.gates[level](skip, x)
            up = self.ups[level](x) if self.ups is not None else x
            x = block(torch.cat([skip, up], dim=1))
        return x


class EncoderDecoder(SegmentationNet):
    """A model composed of explicit parts: ``forward_padded(x) = head(decoder(encoder(x)))``.

    Args:
        encoder: returns the list of features, shallowest first (usually an :class:`Encoder`).
        decoder: maps that list to the decoder's output.
        head: maps the decoder's output to logits (a tensor, or a list with deep supervision).
        multiple: the total down-sampling; inputs are padded to a multiple of it.
        legacy_prefixes: old state-dict key prefix -> new prefix, for checkpoints saved with the
            earlier layout (see :func:`rename_legacy_keys`).
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        head: nn.Module,
        multiple: int,
        legacy_prefixes: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.multiple = multiple
        self.encoder = encoder
        self.decoder = decoder
        self.head = head
        self.legacy_prefixes = dict(legacy_prefixes or {})
        if self.legacy_prefixes:
            rename_legacy_keys(self, self.legacy_prefixes)

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        return self.head(self.decoder(self.encoder(x)))


def legacy_key(key: str, prefixes: Mapping[str, str]) -> str:
    """``key`` with its old prefix (the longest in ``prefixes`` that matches) replaced by the new one."""
    for old, new in sorted(prefixes.items(), key=lambda item: len(item[0]), reverse=True):
        if key.startswith(old):
            return new + key[len(old) :]
    return key


def rename_legacy_keys(module: nn.Module, prefixes: Mapping[str, str]) -> None:
    """Makes ``module.load_state_dict`` accept keys saved under old names.

    A ``load_state_dict`` pre-hook rewrites every key that starts with an old prefix (the longest
    one that matches) to the new prefix, also when ``module`` is loaded as part of a larger model;
    the per-module metadata (versions) is renamed alike. No new key may start with an old prefix.

    Args:
        prefixes: old key prefix -> new key prefix, e.g. ``{"encoders.0.": "encoder.levels.0."}``.
    """

    def renamed(key: str, prefix: str) -> str | None:
        if key.startswith(prefix) and (new := legacy_key(key[len(prefix) :], prefixes)) != key[len(prefix) :]:
            return prefix + new
        return None

    def hook(_: nn.Module, state_dict: dict[str, Any], prefix: str, *__: Any) -> None:
        for key in list(state_dict):
            if (new_key := renamed(key, prefix)) is not None:
                state_dict[new_key] = state_dict.pop(key)
        metadata = getattr(state_dict, "_metadata", None)  # keyed by module path, without the dot
        for key in list(metadata or ()):
            if (new_key := renamed(key + ".", prefix)) is not None:
                metadata[new_key[:-1]] = metadata.pop(key)

    module.register_load_state_dict_pre_hook(hook)
