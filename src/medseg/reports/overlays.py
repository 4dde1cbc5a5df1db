"""Overlays: the image with reference (green) and predicted (cyan, then yellow, ..) outlines.

No red: endoscopy images are mostly red tissue, and a red outline vanishes on them.
"""

from __future__ import annotations

import cv2
import numpy as np

COLORS = [(0, 255, 255), (255, 230, 0), (255, 0, 255), (255, 255, 255)]  # cyan, yellow, magenta, white


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """Any ``(H, W)`` / ``(H, W, C)`` image -> ``(H, W, 3)`` uint8 for display (min-max scaled)."""
    array = image.astype(np.float32)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    low, high = float(array.min()), float(array.max())
    array = (array - low) / max(high - low, 1e-6) * 255
    array = array.astype(np.uint8)
    return np.repeat(array[:, :, None], 3, axis=2) if array.ndim == 2 else array[:, :, :3].copy()


def overlay(
    image: np.ndarray, prediction: np.ndarray, reference: np.ndarray | None = None, thickness: int = 2
) -> np.ndarray:
    """Draws outlines of each foreground class.

    Args:
        image: native ``(H, W)`` or ``(H, W, C)``.
        prediction: ``(H, W)`` labels, drawn in cyan (then yellow, magenta, white for further classes).
        reference: ``(H, W)`` labels, drawn in green.

    Returns:
        ``(H, W, 3)`` uint8 RGB.
    """
    canvas = to_rgb8(image)
    labels = sorted(
        set(np.unique(prediction).tolist()) | (set(np.unique(reference).tolist()) if reference is not None else set())
    )
    for label in [v for v in labels if v > 0]:
        if reference is not None:
            contours, _ = cv2.findContours(
                (reference == label).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
            )
            cv2.drawContours(canvas, contours, -1, (0, 220, 0), thickness)
        contours, _ = cv2.findContours((prediction == label).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(canvas, contours, -1, COLORS[(label - 1) % len(COLORS)], thickness)
    return canvas
