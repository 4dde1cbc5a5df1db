"""Building blocks shared by the architectures."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvBlock(nn.Sequential):
    """Two 3x3 convolutions, each followed by (optional) batch norm and ReLU."""

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool = True, dropout: float = 0.0) -> None:
        check_positive(in_channels=in_channels, out_channels=out_channels)
        dropout = check_dropout(dropout)
        layers: list[nn.Module] = []
        for i in range(2):
            layers.append(
                nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, padding=1, bias=not batch_norm)
            )
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU(inplace=True))
        if dropout > 0:
            layers.append(nn.Dropout2d(dropout))
        super().__init__(*layers)


class UpSample(nn.Module):
    """Doubles the spatial size: 2x2 transposed convolution, or bilinear + 1x1 convolution."""

    def __init__(self, in_channels: int, out_channels: int, mode: str = "transpose") -> None:
        super().__init__()
        if mode == "transpose":
            self.up: nn.Module = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
        elif mode == "bilinear":
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(in_channels, out_channels, 1),
            )
        else:
            raise ValueError(f"upsample={mode!r}: use 'transpose' (2x2 up-convolution) or 'bilinear'")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(x)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pads ``(N, C, H, W)`` at the bottom/right to a multiple of ``multiple``; returns the original (H, W)."""
    height, width = x.shape[-2:]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate" if min(height, width) > 1 else "constant")
    return x, (height, width)


def check_channels(channels: list[int] | tuple[int, ...], minimum: int = 2) -> list[int]:
    """Validates a per-level channel list (shallowest first) and returns it as ints."""
    channels = list(channels)
    if len(channels) < minimum or any(isinstance(c, bool) or int(c) <= 0 for c in channels):
        raise ValueError(
            f"channels={channels}: give at least {minimum} positive widths, shallowest first "
            f"(e.g. channels=[16, 32, 64, 128, 256])"
        )
    return [int(c) for c in channels]


def check_positive(**values: float) -> None:
    """Raises ``ValueError`` naming every argument that is not a positive number, and the fix."""
    bad = [f"{name}={value!r}" for name, value in values.items() if isinstance(value, bool) or not value > 0]
    if bad:
        raise ValueError(f"{', '.join(bad)}: must be positive; set {'each' if len(bad) > 1 else 'it'} to 1 or more")


def check_dropout(dropout: float) -> float:
    """Validates a dropout probability: a number in [0, 1)."""
    if isinstance(dropout, bool) or not 0 <= dropout < 1:
        raise ValueError(f"dropout={dropout!r}: must be a probability in [0, 1); use 0 for no dropout")
    return float(dropout)


class AttentionGate(nn.Module):
    """Additive attention gate on a skip connection (Oktay et al., 2018).

    ``theta_x``: strided 1x1 convolution of the skip features ``x`` onto the grid of the gating
    signal ``g`` (one level deeper); ``phi_g``: 1x1 convolution of ``g``. Their sum goes through
    ReLU, a 1x1 convolution to one channel (``psi``) and a sigmoid; the map, resampled
    (bilinear) to ``x``'s size, multiplies ``x``.

    Args:
        x_channels: channels of the skip features ``(N, x_channels, H, W)``.
        g_channels: channels of the gating signal ``(N, g_channels, H/2, W/2)``.
        inter_channels: width of the intermediate space (default ``x_channels // 2``).
        batch_norm: batch norm after ``psi`` (before the sigmoid).
    """

    def __init__(
        self, x_channels: int, g_channels: int, inter_channels: int | None = None, batch_norm: bool = False
    ) -> None:
        super().__init__()
        inter_channels = inter_channels or max(1, x_channels // 2)
        check_positive(x_channels=x_channels, g_channels=g_channels, inter_channels=inter_channels)
        self.theta_x = nn.Conv2d(x_channels, inter_channels, 1, stride=2, bias=False)
        self.phi_g = nn.Conv2d(g_channels, inter_channels, 1)
        layers: list[nn.Module] = [nn.Conv2d(inter_channels, 1, 1)]
        if batch_norm:
            layers.append(nn.BatchNorm2d(1))
        self.psi = nn.Sequential(*layers)

    def attention(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """The attention coefficients ``(N, 1, H, W)`` in [0, 1] for skip ``x`` and gate ``g``."""
        theta = self.theta_x(x)
        phi = self.phi_g(g)
        if phi.shape[-2:] != theta.shape[-2:]:
            phi = F.interpolate(phi, size=theta.shape[-2:], mode="bilinear", align_corners=False)
        alpha = torch.sigmoid(self.psi(F.relu(theta + phi)))
        return F.interpolate(alpha, size=x.shape[-2:], mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """Gated skip features, same shape as ``x``."""
        return x * self.attention(x, g)


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and ReLU, plus an identity (or 1x1 projection) shortcut.

    ``conv-BN-ReLU-conv-BN``, added to the shortcut, then ReLU (He et al., 2016). The shortcut is
    a 1x1 convolution + batch norm when the channel count changes.

    Input ``(N, in_channels, H, W)``, output ``(N, out_channels, H, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int, dropout: float = 0.0) -> None:
        super().__init__()
        check_positive(in_channels=in_channels, out_channels=out_channels)
        dropout = check_dropout(dropout)
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        if dropout > 0:
            layers.append(nn.Dropout2d(dropout))
        self.body = nn.Sequential(*layers)
        self.shortcut: nn.Module = (
            nn.Identity()
            if in_channels == out_channels
            else nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


class SqueezeExcitation(nn.Module):
    """Channel attention (Hu et al., 2018): global average pool, bottleneck MLP, sigmoid scaling.

    Args:
        channels: feature channels ``C``; the bottleneck has ``max(1, C // ratio)`` units.
        ratio: reduction ratio.
        bias: biases in the two fully connected (1x1) layers.
    """

    def __init__(self, channels: int, ratio: int = 8, bias: bool = True) -> None:
        super().__init__()
        check_positive(channels=channels, ratio=ratio)
        hidden = max(1, channels // ratio)
        self.reduce = nn.Conv2d(channels, hidden, 1, bias=bias)
        self.expand = nn.Conv2d(hidden, channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = F.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.expand(F.relu(self.reduce(scale))))
