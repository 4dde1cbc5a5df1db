"""The one rule for the unit of a 2D measurement: millimetres only when the pixel size is known.

A length is in ``mm`` and an area in ``mm2`` when the image's pixel size is known; otherwise both
stay in pixels (``px``, ``px2``). The unit is part of every name (``hc_mm`` or ``hc_px``,
``area_head_mm2`` or ``area_head_px2``, ``center_x_mm`` or ``center_x_px``), so CSV columns, JSON
keys and page labels all take it from the name and can never disagree with a separate field.
Volumes (CT) always carry their voxel size and are measured in mm and ml.
"""

from __future__ import annotations

import math
from typing import Any

from medseg.measure.ellipse import Ellipse

MM, PX = "mm", "px"
HEAD_LENGTHS = ("hc", "center_x", "center_y", "semi_axes_a", "semi_axes_b")
# display form of each unit suffix of a name (longest first, so "_mm2" wins over "_mm")
SUFFIXES = (("_mm2", "mm²"), ("_px2", "px²"), ("_mm", "mm"), ("_px", "px"), ("_ml", "ml"), ("_rad", "rad"))


def is_known(pixel_size_mm: float | None) -> bool:
    """Whether ``pixel_size_mm`` is a usable size (a positive, finite number)."""
    return pixel_size_mm is not None and math.isfinite(pixel_size_mm) and pixel_size_mm > 0


def length_unit(pixel_size_mm: float | None) -> str:
    """``"mm"`` with a known pixel size, ``"px"`` without."""
    return MM if is_known(pixel_size_mm) else PX


def scale(pixel_size_mm: float | None) -> float:
    """Millimetres per pixel, or 1.0 (pixels) without a known size."""
    return float(pixel_size_mm) if is_known(pixel_size_mm) else 1.0  # type: ignore[arg-type]


def area_column(name: str, pixel_size_mm: float | None) -> str:
    """``area_<name>_mm2`` or ``area_<name>_px2``."""
    return f"area_{name}_{length_unit(pixel_size_mm)}2"


def hc18_columns(unit: str = MM) -> list[str]:
    """The HC18 submission columns in ``unit`` (``center_x_mm, .., angle_rad``)."""
    return [f"{name}_{unit}" for name in HEAD_LENGTHS[1:]] + ["angle_rad"]


def head_columns(ellipse: Ellipse | None, pixel_size_mm: float | None) -> dict[str, float]:
    """The head circumference and HC18 ellipse columns of a fitted pixel ellipse (NaN without one).

    Returns:
        ``hc_<unit>, center_x_<unit>, center_y_<unit>, semi_axes_a_<unit>, semi_axes_b_<unit>,
        angle_rad`` with ``<unit>`` ``mm`` or ``px``.
    """
    unit = length_unit(pixel_size_mm)
    if ellipse is None:
        values = [math.nan] * (len(HEAD_LENGTHS) + 1)
    else:
        sized = ellipse.scaled(scale(pixel_size_mm))
        # HC18 reports the angle in [0, pi): an ellipse is symmetric under a half turn.
        values = [sized.perimeter, sized.cx, sized.cy, sized.a, sized.b, sized.angle % math.pi]
    names = [f"{name}_{unit}" for name in HEAD_LENGTHS] + ["angle_rad"]
    return dict(zip(names, values, strict=True))


def lengths_in_pixels(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with every ``*_mm`` / ``*_mm2`` name renamed ``*_px`` / ``*_px2`` (values measured with size 1)."""
    renamed = {}
    for key, value in row.items():
        if key.endswith("_mm"):
            key = key[:-3] + "_px"
        elif key.endswith("_mm2"):
            key = key[:-4] + "_px2"
        renamed[key] = value
    return renamed


def split_unit(key: str) -> tuple[str, str | None]:
    """``"hc_px"`` -> ``("hc", "px")``; ``"area_head_mm2"`` -> ``("area_head", "mm²")``; no unit: ``(key, None)``."""
    for suffix, shown in SUFFIXES:
        if key.endswith(suffix):
            return key[: -len(suffix)], shown
    return key, None


def missing_size_warning(names: list[str], limit: int = 5) -> str | None:
    """One line naming the images measured in pixels for want of a pixel size (None when there are none)."""
    if not names:
        return None
    shown = ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
    count = f"{len(names)} image{'s' if len(names) != 1 else ''}"
    return (
        f"no pixel size for {count} ({shown}): their lengths and areas are in pixels (columns *_px, *_px2); "
        "give --pixel-size CSV (filename,pixel size in mm) to measure in mm"
    )


def images_without_size(rows: list[dict[str, Any]]) -> list[str]:
    """The ``filename`` of each row (once) whose ``pixel_size_mm`` is unknown (NaN or empty)."""
    names = []
    for row in rows:
        if "pixel_size_mm" not in row:
            continue
        try:
            size = float(row["pixel_size_mm"])
        except (TypeError, ValueError):
            size = math.nan
        if not is_known(size) and row.get("filename") not in names:
            names.append(str(row.get("filename")))
    return names
