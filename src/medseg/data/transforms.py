"""Geometry and intensity transforms between native images and network tensors.

The letterbox keeps the aspect ratio: scale to fit, pad to the network size; :func:`unletterbox`
undoes it on network outputs so masks come back at the original size.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Letterbox:
    """How an ``original`` (H, W) image was placed into a ``target`` (H, W) canvas."""

    original: tuple[int, int]
    target: tuple[int, int]
    scale_y: float
    scale_x: float
    top: int
    left: int

    @property
    def inner(self) -> tuple[int, int]:
        """Size of the resized image inside the canvas (H, W)."""
        return (round(self.original[0] * self.scale_y), round(self.original[1] * self.scale_x))


def make_letterbox(original: tuple[int, int], target: tuple[int, int], keep_aspect: bool = True) -> Letterbox:
    """Plans the resize of ``original`` into ``target`` (both (H, W))."""
    if keep_aspect:
        scale = min(target[0] / original[0], target[1] / original[1])
        inner = (max(1, round(original[0] * scale)), max(1, round(original[1] * scale)))
    else:
        inner = target
    scale_y, scale_x = inner[0] / original[0], inner[1] / original[1]
    top, left = (target[0] - inner[0]) // 2, (target[1] - inner[1]) // 2
    return Letterbox(tuple(original), tuple(target), scale_y, scale_x, top, left)


def letterbox_image(image: np.ndarray, box: Letterbox, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    """Resizes ``(H, W)`` or ``(H, W, C)`` into the canvas; padding is zero (apply before normalising
    intensities only if zero means background; :func:`normalize` ignores padding via ``valid``)."""
    inner_h, inner_w = box.inner
    resized = cv2.resize(image, (inner_w, inner_h), interpolation=interpolation)
    if resized.ndim == 2 and image.ndim == 3:
        resized = resized[:, :, None]
    canvas = np.zeros((box.target[0], box.target[1], *image.shape[2:]), dtype=resized.dtype)
    canvas[box.top : box.top + inner_h, box.left : box.left + inner_w] = resized
    return canvas


def letterbox_mask(mask: np.ndarray, box: Letterbox, num_classes: int) -> np.ndarray:
    """Resizes a label map by area-averaging each class's indicator and taking the majority.

    Nearest-neighbour resizing shifts edges by up to half a pixel; averaging keeps them where they are.
    """
    if num_classes <= 2:
        soft = letterbox_image(mask.astype(np.float32), box)
        return (soft >= 0.5).astype(np.uint8)
    scores = np.stack([letterbox_image((mask == c).astype(np.float32), box) for c in range(num_classes)])
    return scores.argmax(0).astype(np.uint8)


def valid_region(box: Letterbox) -> np.ndarray:
    """``(H, W)`` bool: True inside the resized image, False in the padding."""
    region = np.zeros(box.target, dtype=bool)
    region[box.top : box.top + box.inner[0], box.left : box.left + box.inner[1]] = True
    return region


def unletterbox(scores: np.ndarray, box: Letterbox) -> np.ndarray:
    """Maps ``(C, H, W)`` network-size scores back to ``(C, H0, W0)`` at the original size (bilinear)."""
    inner_h, inner_w = box.inner
    cropped = scores[:, box.top : box.top + inner_h, box.left : box.left + inner_w]
    return np.stack(
        [cv2.resize(channel, (box.original[1], box.original[0]), interpolation=cv2.INTER_LINEAR) for channel in cropped]
    )


def normalize(image: np.ndarray, method: str = "zscore", valid: np.ndarray | None = None) -> np.ndarray:
    """Intensity normalisation per image and channel.

    Args:
        image: ``(C, H, W)`` float32.
        method: ``"zscore"`` (mean 0, std 1), ``"minmax"`` (0..1) or ``"none"``.
        valid: ``(H, W)`` pixels used for the statistics (padding excluded); padding becomes 0.

    Returns:
        ``(C, H, W)`` float32.
    """
    if method == "none":
        return image.astype(np.float32)
    out = np.empty_like(image, dtype=np.float32)
    mask = np.ones(image.shape[1:], dtype=bool) if valid is None else valid
    for c in range(image.shape[0]):
        values = image[c][mask]
        if method == "zscore":
            out[c] = (image[c] - values.mean()) / max(float(values.std()), 1e-6)
        elif method == "minmax":
            low, high = float(values.min()), float(values.max())
            out[c] = (image[c] - low) / max(high - low, 1e-6)
        else:
            raise ValueError(f"unknown normalisation {method!r}; use zscore, minmax or none")
        out[c][~mask] = 0.0
    return out


def to_channels_first(image: np.ndarray, channels: int) -> np.ndarray:
    """``(H, W)`` or ``(H, W, C)`` -> ``(channels, H, W)`` float32 (grey repeated / RGB averaged)."""
    array = image.astype(np.float32)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.shape[2] != channels:
        if channels == 1:
            array = array.mean(axis=2, keepdims=True)
        elif array.shape[2] == 1:
            array = np.repeat(array, channels, axis=2)
        else:
            raise ValueError(f"cannot convert {array.shape[2]} channels to {channels}")
    return np.ascontiguousarray(array.transpose(2, 0, 1))
