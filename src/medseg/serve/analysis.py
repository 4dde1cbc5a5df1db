"""One decoded upload -> prediction, measurements, overlay and mask, as a JSON-ready dict."""

from __future__ import annotations

import base64
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from medseg.data.io import encode_image
from medseg.inference.measurements import image_measurements
from medseg.inference.predictor import Predictor
from medseg.io import json_safe
from medseg.measure.units import is_known, length_unit
from medseg.reports.overlays import overlay
from medseg.serve.uploads import Upload


def png_base64(array: np.ndarray) -> str:
    """``(H, W)`` or ``(H, W, 3)`` RGB uint8 -> base64 PNG."""
    return base64.b64encode(encode_image(array, ".png")).decode("ascii")


def mask_png(mask: np.ndarray, num_classes: int) -> np.ndarray:
    """Label map as saved by ``medseg predict``: 0/255 for binary tasks, the labels otherwise."""
    return (mask * (255 if num_classes == 2 else 1)).astype(np.uint8)


def analyze(predictor: Predictor, upload: Upload, pixel_size_mm: float | None) -> dict[str, Any]:
    """Runs ``predictor`` on an upload.

    Args:
        pixel_size_mm: the size the user entered; None: the file's own (DICOM), else pixels.

    Returns:
        ``format, kind, width, height, pixel_size_mm, pixel_size_source, units, measurements,
        overlay_png`` (base64) and ``mask_png`` (2D) or ``mask_nifti_gz`` (volume, base64), ``seconds``.
        ``units`` is ``"mm"`` or ``"px"`` (:mod:`medseg.measure.units`), and each measurement's name
        ends with its own unit (``hc_mm`` or ``hc_px``, ``area_head_mm2`` or ``area_head_px2``).
    """
    started = time.perf_counter()
    if upload.is_volume:
        result = _analyze_volume(predictor, upload)
    else:
        result = _analyze_image(predictor, upload, pixel_size_mm)
    result["seconds"] = round(time.perf_counter() - started, 4)
    result["backend"] = predictor.backend
    return json_safe(result)


def _analyze_image(predictor: Predictor, upload: Upload, pixel_size_mm: float | None) -> dict[str, Any]:
    image = upload.image
    assert image is not None
    source = "form" if pixel_size_mm is not None else ("file" if upload.pixel_size_mm is not None else None)
    size = pixel_size_mm if pixel_size_mm is not None else upload.pixel_size_mm
    if not is_known(size):
        source, size = None, None
    prediction = predictor.predict(image)
    config = predictor.config
    measurements = image_measurements(prediction, config, size)
    if size is None:  # stated once, at the top level (pixel_size_mm: null, units: px)
        measurements.pop("pixel_size_mm", None)
    return {
        "format": upload.format,
        "kind": "image",
        "width": int(image.shape[1]),
        "height": int(image.shape[0]),
        "pixel_size_mm": size,
        "pixel_size_source": source,
        "units": length_unit(size),
        "measurements": measurements,
        "overlay_png": png_base64(overlay(image, prediction.mask)),
        "mask_png": png_base64(mask_png(prediction.mask, config.data.num_classes)),
    }


def _analyze_volume(predictor: Predictor, upload: Upload) -> dict[str, Any]:
    from medseg.inference.volume import segment_and_measure

    assert upload.nifti is not None
    # Fixed names inside a fresh private folder: nothing from the request names a path.
    with tempfile.TemporaryDirectory(prefix="medseg-serve-") as folder:
        source, target = Path(folder) / "upload.nii", Path(folder) / "labels.nii.gz"
        source.write_bytes(upload.nifti)
        result = segment_and_measure(predictor, source, target, name="upload")
        labels_gz = target.read_bytes()
    labels, volume = result.labels, result.volume
    counts = labels.reshape(labels.shape[0], -1).astype(bool).sum(axis=1)
    k = int(counts.argmax())
    spacing = volume.spacing_mm
    measurements = {key: value for key, value in result.measurements.items() if isinstance(value, int | float)}
    measurements.update(slices=int(labels.shape[0]), shown_slice=k)
    image = volume.array[k] if volume.array.ndim == 3 else volume.array[k, ..., 0]
    return {
        "format": upload.format,
        "kind": "volume",
        "width": int(labels.shape[2]),
        "height": int(labels.shape[1]),
        "pixel_size_mm": float(math.sqrt(spacing[0] * spacing[1])),
        "pixel_size_source": "file",
        "units": "mm",
        "measurements": measurements,
        "overlay_png": png_base64(overlay(image, labels[k])),
        "mask_nifti_gz": base64.b64encode(labels_gz).decode("ascii"),
    }
