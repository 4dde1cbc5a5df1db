"""Choosing the torch device."""

from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """``"auto"``: CUDA when available, else CPU; any other name is passed to :class:`torch.device`.

    Raises:
        ConfigError: a CUDA device asked for where there is none (or not that many).
    """
    from medseg.errors import ConfigError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"train.device={name!r}: not a device name; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise ConfigError(f"train.device={name!r}: no such CUDA device on this computer; use auto or cpu")
    return device
