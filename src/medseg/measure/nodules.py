"""Per-nodule size in a 2D mask: area and diameters of each connected region.

Diameters follow the radiology convention for nodules on an axial slice: the longest diameter is
the largest distance between two points of the region (maximum Feret diameter, as Lung-RADS and
the LIDC size categories use); the equivalent diameter is that of the circle of the same area.
Sizes are in millimetres when the slice's pixel spacing is known and in pixels otherwise; the
column names carry the unit (``diameter_mm`` or ``diameter_px``), so a number in pixels is never
mistaken for millimetres.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from skimage.measure import label, regionprops

from medseg.measure.units import length_unit


def size_unit(spacing_mm: tuple[float, float] | None) -> str:
    """``"mm"`` with a pixel spacing, ``"px"`` without (the rule of :mod:`medseg.measure.units`)."""
    return length_unit(None if spacing_mm is None else min(spacing_mm))


def measure_nodules(
    mask: np.ndarray, spacing_mm: tuple[float, float] | None = None, min_pixels: int = 1
) -> list[dict[str, Any]]:
    """Area and diameters of every connected region (8-connectivity) of a binary mask.

    Args:
        mask: ``(H, W)`` mask; every non-zero pixel belongs to a nodule.
        spacing_mm: ``(row, column)`` pixel spacing in mm, or ``None`` when the data has none
            (sizes in pixels).
        min_pixels: regions smaller than this are ignored.

    Returns:
        One row per nodule, largest first: ``nodule`` (1, 2, ...), ``pixels``,
        ``area_<unit>2``, ``diameter_<unit>`` (longest), ``equivalent_diameter_<unit>``,
        ``centre_row_px``, ``centre_col_px`` (the centroid, in pixels from the top-left corner) and,
        with a spacing, ``centre_row_mm``, ``centre_col_mm``; ``<unit>`` is ``mm`` or ``px``.
    """
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2D (H, W), got shape {mask.shape}")
    unit = size_unit(spacing_mm)
    spacing = (float(spacing_mm[0]), float(spacing_mm[1])) if unit == "mm" else (1.0, 1.0)
    regions = [r for r in regionprops(label(mask > 0, connectivity=2), spacing=spacing) if r.num_pixels >= min_pixels]
    regions.sort(key=lambda r: -r.num_pixels)
    rows = []
    for index, region in enumerate(regions, start=1):
        area = float(region.num_pixels) * spacing[0] * spacing[1]
        # a one-pixel region has no extent between pixel centres: count it as one pixel wide
        longest = max(float(region.feret_diameter_max), min(spacing))
        rows.append(
            {
                "nodule": index,
                "pixels": int(region.num_pixels),
                f"area_{unit}2": area,
                f"diameter_{unit}": longest,
                f"equivalent_diameter_{unit}": 2.0 * math.sqrt(area / math.pi),
                "centre_row_px": float(region.centroid[0] / spacing[0]),
                "centre_col_px": float(region.centroid[1] / spacing[1]),
            }
        )
        if unit == "mm":
            rows[-1].update(centre_row_mm=float(region.centroid[0]), centre_col_mm=float(region.centroid[1]))
    return rows


def largest_nodule(mask: np.ndarray, spacing_mm: tuple[float, float] | None = None) -> dict[str, float]:
    """Count and size of the largest nodule, as ``nodules``, ``area_<unit>2``, ``diameter_<unit>``
    (NaN sizes when the mask is empty)."""
    unit = size_unit(spacing_mm)
    rows = measure_nodules(mask, spacing_mm)
    if not rows:
        return {"nodules": 0, f"area_{unit}2": math.nan, f"diameter_{unit}": math.nan}
    return {
        "nodules": len(rows),
        f"area_{unit}2": rows[0][f"area_{unit}2"],
        f"diameter_{unit}": rows[0][f"diameter_{unit}"],
    }
