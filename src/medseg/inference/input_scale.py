"""Whether an input image fits the scale a model was trained at.

Most models are trained on whole images resized to ``data.image_size``; any image is resized the
same way. A model trained on fixed-size crops cut at the images' own pixel size (the lung nodule
crops of the ``lidc`` reader) has learnt one scale: a larger image (a whole CT slice) must be
predicted window by window at that scale (MONAI's sliding-window inferer), never squeezed into the
crop's size, and an image whose known pixel size is far from the training data's is refused.
"""

from __future__ import annotations

import math

from medseg.config import Config

# Readers that cut fixed-size crops at the native pixel size, with their default crop size.
CROP_READERS = {"lidc": 64}
SPACING_TOLERANCE = 1.25  # a known pixel size may differ from the training data's by this factor


def training_crop(config: Config) -> tuple[int, int] | None:
    """``(h, w)`` of the native-resolution crops the model was trained on; None for whole-image models."""
    default = CROP_READERS.get(config.data.layout)
    if default is None:
        return None
    size = (config.data.reader or {}).get("crop_size", default)
    if size is None:
        return None
    if isinstance(size, int | float):
        return int(size), int(size)
    return int(size[0]), int(size[1])


def window_zoom(config: Config) -> float:
    """How much the network's input is magnified against the native crop (``image_size / crop``; 1 otherwise)."""
    crop = training_crop(config)
    if crop is None:
        return 1.0
    return min(config.data.image_size[0] / crop[0], config.data.image_size[1] / crop[1])


def training_pixel_size(config: Config) -> float | None:
    """The training images' pixel size in mm when the reader was given one (``data.reader.pixel_size_mm``)."""
    value = (config.data.reader or {}).get("pixel_size_mm")
    return float(value) if isinstance(value, int | float) and value > 0 else None


def input_problem(
    config: Config, shape: tuple[int, ...], sliding_window: bool, pixel_size_mm: float | None = None
) -> str | None:
    """Why an image of ``shape`` cannot be predicted at the model's training scale, or None.

    Args:
        shape: the image's ``(H, W[, C])``.
        sliding_window: whether the predictor may slide windows over a larger image.
        pixel_size_mm: the image's pixel size when known.
    """
    crop = training_crop(config)
    if crop is None:
        return None
    trained = training_pixel_size(config)
    if trained is not None and pixel_size_mm is not None and math.isfinite(pixel_size_mm):
        ratio = pixel_size_mm / trained
        if not 1 / SPACING_TOLERANCE <= ratio <= SPACING_TOLERANCE:
            return (
                f"pixel size {pixel_size_mm:g} mm is far from the {trained:g} mm the model was trained at; "
                "resample the image to that pixel size first"
            )
    if tuple(shape[:2]) != crop and not sliding_window:
        return (
            f"the model was trained on {crop[0]}x{crop[1]} crops at the image's own pixel size and this image is "
            f"{shape[0]}x{shape[1]}: squeezing it would change its scale; predict it with --sliding-window "
            f"(windows at the training scale) or cut a {crop[0]}x{crop[1]} crop"
        )
    return None
