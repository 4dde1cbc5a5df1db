"""Head circumference (HC) in millimetres from a fetal head mask, as the HC18 challenge defines it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from medseg.measure.ellipse import Ellipse, fit_ellipse_to_mask


@dataclass(frozen=True)
class HeadMeasurement:
    """The fitted head ellipse in millimetres and its circumference.

    ``center_x_mm``.. ``angle_rad`` follow the HC18 submission format.
    """

    hc_mm: float
    center_x_mm: float
    center_y_mm: float
    semi_axes_a_mm: float
    semi_axes_b_mm: float
    angle_rad: float

    def as_row(self) -> dict[str, float]:
        return {
            "hc_mm": self.hc_mm,
            "center_x_mm": self.center_x_mm,
            "center_y_mm": self.center_y_mm,
            "semi_axes_a_mm": self.semi_axes_a_mm,
            "semi_axes_b_mm": self.semi_axes_b_mm,
            "angle_rad": self.angle_rad,
        }


def measure_ellipse(ellipse: Ellipse, pixel_size_mm: float) -> HeadMeasurement:
    """Converts a pixel ellipse to an HC18 measurement (isotropic ``pixel_size_mm``)."""
    mm = ellipse.scaled(pixel_size_mm)
    # HC18 reports the angle in [0, pi): an ellipse is symmetric under a half turn.
    return HeadMeasurement(mm.perimeter, mm.cx, mm.cy, mm.a, mm.b, mm.angle % math.pi)


def head_circumference(mask: np.ndarray, pixel_size_mm: float) -> HeadMeasurement | None:
    """Measures the head in a binary mask.

    Largest component -> holes filled -> sub-pixel contour -> least-squares ellipse ->
    Ramanujan perimeter -> millimetres.

    Args:
        mask: ``(H, W)`` binary head mask at the image's own resolution.
        pixel_size_mm: isotropic pixel size of that image.

    Returns:
        The measurement, or ``None`` when the mask has no usable head.
    """
    ellipse = fit_ellipse_to_mask(np.asarray(mask) > 0)
    return None if ellipse is None else measure_ellipse(ellipse, pixel_size_mm)
