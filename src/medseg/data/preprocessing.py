"""Preprocessing shared by training and inference: a native image (and its mask) -> network input.

:func:`prepare_image` is the one function that turns an image into what a model sees (crop,
window / median / equalise, letterbox, channels, normalise), used by
:class:`medseg.data.dataset.SegmentationDataset` for training and evaluation and by
:class:`medseg.inference.predictor.Predictor` for prediction, so inputs are always prepared the same
way. :func:`prepare_mask` applies the same crop and resize to a label map.
"""

from __future__ import annotations

import numpy as np

from medseg.config import DataConfig
from medseg.data.case import Case
from medseg.data.transforms import (
    Letterbox,
    apply_region,
    crop_region,
    letterbox_image,
    letterbox_mask,
    make_letterbox,
    normalize,
    preprocess_intensity,
    to_channels_first,
    valid_region,
)
from medseg.errors import DataError


def prepare_image(image: np.ndarray, cfg: DataConfig) -> tuple[np.ndarray, Letterbox]:
    """Native image -> network input: crop, window / median / equalise, letterbox, channels, normalise.

    Args:
        image: ``(H, W)`` or ``(H, W, C)``.

    Returns:
        ``(C, h, w)`` float32 at ``cfg.image_size`` and the letterbox that undoes it (crop included;
        :func:`prepare_mask` applies the same crop and resize to the mask).
    """
    region = crop_region(image, cfg.crop, cfg.crop_foreground)
    box = make_letterbox(image.shape[:2], tuple(cfg.image_size), cfg.keep_aspect, region=region)
    image = preprocess_intensity(apply_region(image, box), cfg.window, cfg.median_filter, cfg.equalize, cfg.clahe_clip)
    resized = letterbox_image(image.astype(np.float32), box)
    array = to_channels_first(resized, cfg.channels)
    return normalize(array, cfg.normalize, valid_region(box)), box


def prepare_mask(case: Case, box: Letterbox, cfg: DataConfig) -> np.ndarray:
    """Native label map -> ``(h, w)`` uint8 at network size, checked against the image and classes."""
    mask = case.mask
    where = case.source or case.id
    if mask is None:
        raise DataError(where, "case has no mask")
    if mask.shape[:2] != case.image.shape[:2]:
        raise DataError(where, f"mask size {mask.shape[1::-1]} differs from image size {case.image.shape[1::-1]}")
    if mask.max() >= cfg.num_classes or mask.min() < 0:
        raise DataError(
            where, f"mask labels {sorted(np.unique(mask).tolist())} out of range for {cfg.num_classes} classes"
        )
    return letterbox_mask(mask, box, cfg.num_classes)
