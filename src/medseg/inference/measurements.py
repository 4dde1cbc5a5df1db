"""Measurements of one 2D prediction: areas per class and, for the fetal head, the circumference;
for a bone scan the Bone Scan Index.

Units follow :mod:`medseg.measure.units`: mm only with a known pixel size, pixels otherwise, and
the unit is in every column name.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from medseg.config import Config
from medseg.inference.predictor import Prediction
from medseg.measure.bone_scan_index import bone_scan_index
from medseg.measure.ellipse import fit_ellipse_to_mask
from medseg.measure.units import area_column, hc18_columns, head_columns, is_known, scale

HC18_COLUMNS = hc18_columns()


def image_measurements(prediction: Prediction, config: Config, pixel_size_mm: float | None) -> dict[str, Any]:
    """The ``measurements.csv`` columns of one 2D prediction (filename excluded).

    Args:
        prediction: mask ``(H, W)`` and, for the fetal head, the fitted ellipse.
        config: class names and ``eval.measurements`` (``head_circumference`` adds HC and the HC18 columns).
        pixel_size_mm: isotropic pixel size; None measures in pixels (``pixel_size_mm`` is then NaN).

    Returns:
        ``pixel_size_mm``, ``area_<class>_<unit>2`` per foreground class and, for the fetal head,
        ``hc_<unit>`` and the HC18 submission columns, with ``<unit>`` ``mm`` or ``px``; with
        ``eval.measurements: [bone_scan_index]``, ``bsi_percent`` (:func:`bsi_percent`).
    """
    size = float(pixel_size_mm) if is_known(pixel_size_mm) else None
    row: dict[str, Any] = {"pixel_size_mm": math.nan if size is None else size}
    for label, name in enumerate(config.data.class_names[1:], start=1):
        row[area_column(name, size)] = float(np.count_nonzero(prediction.mask == label)) * scale(size) ** 2
    if "head_circumference" in config.eval.measurements:
        ellipse = prediction.ellipse if prediction.ellipse is not None else fit_ellipse_to_mask(prediction.mask == 1)
        row.update(head_columns(ellipse, size))
    if "bone_scan_index" in config.eval.measurements:
        row["bsi_percent"] = bsi_percent(prediction.mask, config)
    return row


def bsi_percent(labels: np.ndarray, config: Config) -> float:
    """The Bone Scan Index of one view's labels (hotspot area / skeleton area, %), in the model's
    label scheme (4 classes: with normal uptake; 3: uptake merged into bone); NaN without skeleton."""
    return float(bone_scan_index(labels, len(config.data.class_names))["bsi_percent"])
