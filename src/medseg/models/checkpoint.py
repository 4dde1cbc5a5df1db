"""Checkpoints that rebuild their model without the config file, written atomically."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
from torch import nn

from medseg.errors import RunDirError
from medseg.io import atomic_write_bytes
from medseg.models import create_model


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Writes ``state`` with ``torch.save`` to a temporary file renamed into place.

    ``state`` holds at least ``model`` (name, params, in_channels, classes) and ``state_dict``.
    """
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Reads a checkpoint onto the CPU.

    Raises:
        RunDirError: missing or unreadable file.
    """
    path = Path(path)
    if not path.is_file():
        raise RunDirError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a damaged file
        raise RunDirError(f"{path}: unreadable checkpoint ({exc})") from None


def model_from_checkpoint(state: dict[str, Any]) -> nn.Module:
    """Rebuilds the model stored in a checkpoint, in eval mode."""
    spec = state["model"]
    model = create_model(spec["name"], in_channels=spec["in_channels"], classes=spec["classes"], **spec["params"])
    model.load_state_dict(state["state_dict"])
    return model.eval()
