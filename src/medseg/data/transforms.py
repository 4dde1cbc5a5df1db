"""Geometry and intensity transforms between native images and network tensors.

The letterbox keeps the aspect ratio: scale to fit, pad to the network size; :func:`unletterbox`
undoes it on network outputs so masks come back at the original size. A letterbox may first crop a
region of the original (``region``); the crop applies to image and mask alike and is undone too.

Preprocessing applied before the letterbox (:func:`preprocess_intensity`, :func:`crop_region`): CT
windowing, median filtering, histogram equalisation / CLAHE, fixed-margin and foreground cropping.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    region: tuple[int, int, int, int] | None = None  # (top, left, height, width) of ``original`` resized; None: all

    @property
    def source(self) -> tuple[int, int]:
        """Size (H, W) of the part of the original that is resized: the crop region, or the whole image."""
        return self.original if self.region is None else (self.region[2], self.region[3])

    @property
    def inner(self) -> tuple[int, int]:
        """Size of the resized image inside the canvas (H, W)."""
        return (round(self.source[0] * self.scale_y), round(self.source[1] * self.scale_x))


def make_letterbox(
    original: tuple[int, int],
    target: tuple[int, int],
    keep_aspect: bool = True,
    region: tuple[int, int, int, int] | None = None,
) -> Letterbox:
    """Plans the resize of ``original`` (or of its crop ``region``) into ``target`` (both (H, W)).

    Args:
        region: ``(top, left, height, width)`` inside ``original``; None resizes the whole image.
    """
    if region is not None:
        top0, left0, height0, width0 = (int(v) for v in region)
        if top0 < 0 or left0 < 0 or height0 < 1 or width0 < 1:
            raise ValueError(f"crop region {region} must have a non-negative origin and a positive size")
        if top0 + height0 > original[0] or left0 + width0 > original[1]:
            raise ValueError(f"crop region {region} does not fit inside the image of size {tuple(original)}")
        region = (top0, left0, height0, width0)
        if region == (0, 0, original[0], original[1]):
            region = None
    source = original if region is None else region[2:]
    if keep_aspect:
        scale = min(target[0] / source[0], target[1] / source[1])
        inner = (max(1, round(source[0] * scale)), max(1, round(source[1] * scale)))
    else:
        inner = target
    scale_y, scale_x = inner[0] / source[0], inner[1] / source[1]
    top, left = (target[0] - inner[0]) // 2, (target[1] - inner[1]) // 2
    return Letterbox(tuple(original), tuple(target), scale_y, scale_x, top, left, region)


def apply_region(image: np.ndarray, box: Letterbox) -> np.ndarray:
    """Crops ``image`` to ``box.region``; an image already at the region's size is returned as it is.

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` at ``box.original`` or ``box.source`` size.
    """
    if box.region is None:
        return image
    if tuple(image.shape[:2]) == tuple(box.original):
        top, left, height, width = box.region
        return image[top : top + height, left : left + width]
    if tuple(image.shape[:2]) == tuple(box.source):
        return image
    raise ValueError(f"image of size {image.shape[:2]} matches neither {box.original} nor its crop {box.source}")


def letterbox_image(image: np.ndarray, box: Letterbox, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    """Resizes ``(H, W)`` or ``(H, W, C)`` into the canvas; padding is zero (apply before normalising
    intensities only if zero means background; :func:`normalize` ignores padding via ``valid``)."""
    image = apply_region(image, box)
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
    """Maps ``(C, H, W)`` network-size scores back to ``(C, H0, W0)`` at the original size (bilinear).

    Outside a crop ``region`` the scores are those of certain background (1 for channel 0, 0 for the others).
    """
    inner_h, inner_w = box.inner
    cropped = scores[:, box.top : box.top + inner_h, box.left : box.left + inner_w]
    source_h, source_w = box.source
    resized = np.stack(
        [cv2.resize(channel, (source_w, source_h), interpolation=cv2.INTER_LINEAR) for channel in cropped]
    )
    if box.region is None:
        return resized
    full = np.zeros((resized.shape[0], *box.original), dtype=resized.dtype)
    full[0] = 1
    top, left, height, width = box.region
    full[:, top : top + height, left : left + width] = resized
    return full


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


EQUALIZE_METHODS = ("none", "hist", "clahe")


def window_intensity(image: np.ndarray, centre: float, width: float) -> np.ndarray:
    """CT windowing: ``[centre - width/2, centre + width/2]`` (e.g. Hounsfield units) -> ``[0, 1]``, clipped.

    The liver study's window is centre 100, width 300 (-50..250 HU). The same arithmetic as MONAI's
    ``ScaleIntensityRange(low, high, 0, 1, clip=True)`` (equal results, tested), in NumPy: importing
    MONAI's transforms costs 2-4 s, more than predicting a CT volume's slices takes.

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` any numeric dtype.

    Returns:
        float32 array of the same shape.
    """
    if width <= 0:
        raise ValueError(f"window width must be positive, got {width}")
    low, high = centre - width / 2, centre + width / 2
    scaled = (image.astype(np.float32) - np.float32(low)) / np.float32(high - low)
    return np.clip(scaled, 0.0, 1.0, out=scaled)


def median_filter(image: np.ndarray, size: int) -> np.ndarray:
    """Median filter over ``size x size`` pixels, each channel on its own.

    Args:
        image: ``(H, W)`` or ``(H, W, C)``.
        size: odd kernel size; 0 or 1 returns the image unchanged.
    """
    if size in (0, 1):
        return image
    if size < 0 or size % 2 == 0:
        raise ValueError(f"median_filter must be an odd kernel size (3, 5, ..) or 0 to disable, got {size}")
    from scipy import ndimage

    footprint = (size, size) if image.ndim == 2 else (size, size, 1)
    return ndimage.median_filter(image, size=footprint, mode="nearest")


def equalize(image: np.ndarray, method: str = "hist", clip_limit: float = 0.01) -> np.ndarray:
    """Histogram equalisation (``"hist"``) or CLAHE (``"clahe"``) per channel, scikit-image's.

    The image is first scaled to ``[0, 1]`` by its own minimum and maximum.

    Args:
        image: ``(H, W)`` or ``(H, W, C)``.
        method: ``"none"``, ``"hist"`` or ``"clahe"``.
        clip_limit: CLAHE contrast limit (scikit-image's ``clip_limit``, 0..1).

    Returns:
        float32 in ``[0, 1]`` (``"none"``: the image unchanged).
    """
    if method not in EQUALIZE_METHODS:
        raise ValueError(f"unknown equalisation {method!r}; use {', '.join(EQUALIZE_METHODS)}")
    if method == "none":
        return image
    from skimage import exposure

    array = image.astype(np.float32)
    planes = [array] if array.ndim == 2 else [array[:, :, c] for c in range(array.shape[2])]
    out = []
    for plane in planes:
        low, high = float(plane.min()), float(plane.max())
        if high - low < 1e-6:
            out.append(np.zeros_like(plane))
            continue
        scaled = (plane - low) / (high - low)
        if method == "hist":
            out.append(exposure.equalize_hist(scaled).astype(np.float32))
        else:
            out.append(exposure.equalize_adapthist(scaled, clip_limit=clip_limit).astype(np.float32))
    return out[0] if array.ndim == 2 else np.stack(out, axis=2)


def preprocess_intensity(
    image: np.ndarray,
    window: Sequence[float] | None = None,
    median_size: int = 0,
    equalize_method: str = "none",
    clahe_clip: float = 0.01,
) -> np.ndarray:
    """Intensity preprocessing in a fixed order: window, median filter, equalisation.

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` native intensities (e.g. Hounsfield units).
        window: ``[centre, width]`` (see :func:`window_intensity`) or None.
        median_size: median kernel (see :func:`median_filter`); 0 disables.
        equalize_method: ``"none"``, ``"hist"`` or ``"clahe"`` (see :func:`equalize`).

    Returns:
        Array of the input's shape (float32 when any step ran, else the input).
    """
    if window is not None:
        if len(window) != 2:
            raise ValueError(f"window must be [centre, width], got {list(window)}")
        image = window_intensity(image, float(window[0]), float(window[1]))
    image = median_filter(image, int(median_size))
    return equalize(image, equalize_method, clahe_clip)


def crop_problem(shape: Sequence[int], margins: Sequence[int] | None) -> str:
    """Why ``margins`` ``[top, bottom, left, right]`` cannot crop an ``(H, W, ...)`` image; "" if they can."""
    if margins is None:
        return ""
    height, width = int(shape[0]), int(shape[1])
    if height - int(margins[0]) - int(margins[1]) < 1 or width - int(margins[2]) - int(margins[3]) < 1:
        return f"data.crop={list(margins)} removes the whole {height}x{width} image; use smaller margins (or null)"
    return ""


def crop_region(
    image: np.ndarray, margins: Sequence[int] | None = None, foreground_above: float | None = None
) -> tuple[int, int, int, int] | None:
    """Plans a crop: fixed margins and/or the bounding box of pixels brighter than a threshold.

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` (colour: the channel mean is thresholded).
        margins: pixels removed ``[top, bottom, left, right]``.
        foreground_above: keep the bounding box of pixels above this intensity (e.g. -500 HU for the
            body in CT, 10 for an endoscope's black border), inside the margins; an image with no
            such pixel is not cropped further.

    Returns:
        ``(top, left, height, width)`` or None (no crop).
    """
    height, width = image.shape[:2]
    top, left, bottom, right = 0, 0, height, width
    if margins is not None:
        if len(margins) != 4 or any(int(m) < 0 for m in margins):
            raise ValueError(f"crop must be four non-negative margins [top, bottom, left, right], got {list(margins)}")
        problem = crop_problem((height, width), margins)
        if problem:
            raise ValueError(problem)
        top, left = int(margins[0]), int(margins[2])
        bottom, right = height - int(margins[1]), width - int(margins[3])
    if foreground_above is not None:
        grey = image if image.ndim == 2 else image.mean(axis=2)
        inside = grey[top:bottom, left:right] > foreground_above
        # the bounding box of MONAI's generate_spatial_bounding_box (end exclusive), without importing MONAI
        rows, columns = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
        if len(rows):
            top, left, bottom, right = (
                top + int(rows[0]),
                left + int(columns[0]),
                top + int(rows[-1]) + 1,
                left + int(columns[-1]) + 1,
            )
    if (top, left, bottom, right) == (0, 0, height, width):
        return None
    return top, left, bottom - top, right - left
