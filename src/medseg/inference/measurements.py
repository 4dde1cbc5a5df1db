"""Measurements of one 2D prediction: areas per class and, for the fetal head, the circumference."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from medseg.config import Config
from medseg.inference.predictor import Prediction
from medseg.measure.head_circumference import head_circumference, measure_ellipse

HC18_COLUMNS = ["center_x_mm", "center_y_mm", "semi_axes_a_mm", "semi_axes_b_mm", "angle_rad"]


def image_measurements(prediction: Prediction, config: Config, pixel_size_mm: float | None) -> dict[str, Any]:
    """The ``measurements.csv`` columns of one 2D prediction (filename excluded).

    Args:
        prediction: mask ``(H, W)`` and, for the fetal head, the fitted ellipse.
        config: class names and ``eval.measurements`` (``head_circumference`` adds HC and the HC18 columns).
        pixel_size_mm: isotropic pixel size; None measures in pixels (``pixel_size_mm`` is then NaN).

    Returns:
        ``pixel_size_mm``, ``area_<class>_mm2`` per foreground class and, for the fetal head, ``hc_mm``
        and the HC18 submission columns.
    """
    size = 1.0 if pixel_size_mm is None else float(pixel_size_mm)
    row: dict[str, Any] = {"pixel_size_mm": math.nan if pixel_size_mm is None else size}
    for label, name in enumerate(config.data.class_names[1:], start=1):
        row[f"area_{name}_mm2"] = float(np.count_nonzero(prediction.mask == label)) * size**2
    if "head_circumference" in config.eval.measurements:
        measured = (
            measure_ellipse(prediction.ellipse, size)
            if prediction.ellipse is not None
            else head_circumference(prediction.mask == 1, size)
        )
        row.update(measured.as_row() if measured else {"hc_mm": math.nan, **{c: math.nan for c in HC18_COLUMNS}})
    return row
