"""Progressive resizing: the first epochs train on smaller batches, which cost less, then on ``data.image_size``.

``train.progressive_resize`` lists ``[last_epoch, [H, W]]`` steps in increasing epoch order: epochs up to
``last_epoch`` train on batches resized to ``H x W``; epochs after the last step train at the data's size.
Validation, checkpoints and predictions always use ``data.image_size``. The batches are resized after
augmentation (images bilinear with antialiasing, masks nearest), so the data pipeline is unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def size_at(schedule: list[Any], epoch: int) -> tuple[int, int] | None:
    """The ``(H, W)`` the batches of ``epoch`` are resized to, or None (the data's own size)."""
    for last_epoch, size in schedule:
        if epoch <= last_epoch:
            return int(size[0]), int(size[1])
    return None


def describe(schedule: list[Any]) -> str:
    """The schedule in words, for the start line: ``"160x224 up to epoch 14"``."""
    return ", ".join(f"{size[0]}x{size[1]} up to epoch {epoch}" for epoch, size in schedule)


def resize_batch(images: torch.Tensor, masks: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """A training batch at another size.

    Args:
        images: ``(N, C, H, W)`` float.
        masks: ``(N, 1, H, W)`` integer labels.
        size: the new ``(H, W)``.

    Returns:
        ``(N, C, *size)`` images (bilinear, antialiased when shrinking; the input's memory format) and
        ``(N, 1, *size)`` masks of the same dtype (nearest).
    """
    if tuple(images.shape[-2:]) == tuple(size):
        return images, masks
    memory_format = torch.channels_last if images.is_contiguous(memory_format=torch.channels_last) else None
    resized = F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)
    if memory_format is not None:
        resized = resized.contiguous(memory_format=memory_format)
    labels = F.interpolate(masks.float(), size=size, mode="nearest-exact").to(masks.dtype)
    return resized, labels
