"""Organ and lesion volumes from a label volume: millilitres, lesion list, burden and diameters.

Label meaning comes from the class names of the run's config (``data.class_names``): the lesion
class is the first foreground class named like a lesion (``tumour``, ``tumor``, ``lesion``,
``cancer``, ``metastasis``), the organ class the first other foreground class (e.g.
``[background, liver, tumour]``: organ ``liver`` = 1, lesion ``tumour`` = 2). Lesions are the
26-connected components of the lesion class (:mod:`medseg.measure.components`) of at least
``min_lesion_mm3`` (``eval.min_lesion_volume_mm3``); smaller ones are counted, not listed.

Columns of one volume's row (names from the class names; ``liver``/``tumour`` here):

- ``<class>_ml`` for each foreground class; the organ's ``liver_ml`` *includes* the lesions inside it
  (the clinical liver volume: liver and tumour labels together), ``tumour_ml`` is the lesion class alone
  (every lesion voxel of the mask, listed or not); ``liver_without_tumour_ml`` the organ label alone.
- ``tumour_burden_pct``: ``100 * tumour_ml / liver_ml``.
- ``n_tumours`` (listed lesions) and ``largest_tumour_diameter_mm`` (maximum Feret diameter, 3D).
- ``n_tumours_below_min`` and ``tumour_below_min_ml``: the components under the minimum, and
  ``min_tumour_volume_mm3``, the minimum used.

One row per listed lesion: ``tumour`` (1.. by decreasing volume), ``volume_ml``, ``diameter_mm``,
``voxels``, its centre ``voxel_i, voxel_j, voxel_k`` (voxel indices of the label file) and, where an
affine is given, ``x_mm, y_mm, z_mm`` (RAS scanner coordinates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from medseg.measure.components import label_in_box, measure_labelled

LESION_NAMES = ("tumour", "tumor", "lesion", "cancer", "metastasis")


@dataclass(frozen=True)
class LabelRoles:
    """Which labels are the organ and its lesions (None when the classes have none)."""

    organ: int | None
    organ_name: str | None
    lesion: int | None
    lesion_name: str | None


def is_lesion_name(name: str) -> bool:
    lowered = name.strip().lower()
    return any(lowered.startswith(word) or lowered.endswith(word) for word in LESION_NAMES)


def label_roles(class_names: list[str]) -> LabelRoles:
    """The organ and lesion classes named in ``class_names`` (index = label value, 0 background)."""
    lesion = next((k for k, n in enumerate(class_names) if k > 0 and is_lesion_name(n)), None)
    organ = next((k for k, n in enumerate(class_names) if k > 0 and k != lesion), None)
    return LabelRoles(
        organ,
        class_names[organ] if organ is not None else None,
        lesion,
        class_names[lesion] if lesion is not None else None,
    )


def _plural(name: str) -> str:
    return name if name.endswith("s") else f"{name}s"


def lesion_min_voxels(min_lesion_mm3: float, spacing_zyx: tuple[float, float, float]) -> int:
    """The fewest voxels a listed lesion has: ``min_lesion_mm3`` in voxels of ``spacing_zyx``, rounded up
    (with a hair of tolerance, so a lesion of exactly the minimum is listed); at least 1."""
    return max(1, math.ceil(float(min_lesion_mm3) / float(np.prod(spacing_zyx)) - 1e-9))


def measure_label_volume(
    labels_zyx: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    class_names: list[str],
    affine: np.ndarray | None = None,
    min_lesion_mm3: float = 0.0,
    grid_affine: np.ndarray | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Volumes, lesion list, burden and lesion diameters of one ``(Z, Y, X)`` label volume.

    Args:
        labels_zyx: ``(Z, Y, X)`` integer labels (0 background).
        spacing_zyx: voxel size in mm along ``(Z, Y, X)``.
        class_names: label names in label order, background first.
        affine: optional ``(4, 4)`` voxel ``(x, y, z)`` -> RAS mm for ``labels_zyx.transpose(2, 1, 0)``,
            for lesion centres in mm.
        min_lesion_mm3: lesions of a smaller volume are counted (``n_<lesion>s_below_min``), not listed.
        grid_affine: the ``(4, 4)`` affine of the file the labels are written to, when its voxel grid
            differs from ``labels_zyx.transpose(2, 1, 0)`` (a NIfTI stored in another axis order): lesion
            centres ``voxel_i, voxel_j, voxel_k`` are given in that grid. None: ``(x, y, z)`` of the array.

    Returns:
        The volume's row (columns in the module docstring) and one row per listed lesion.
    """
    voxel_mm3 = float(np.prod(spacing_zyx))
    voxel_ml = voxel_mm3 / 1000.0
    labels_zyx = np.asarray(labels_zyx)
    counts = [int(np.count_nonzero(labels_zyx == label)) for label in range(len(class_names))]
    roles = label_roles(class_names)
    row: dict[str, Any] = {}
    for label, name in enumerate(class_names):
        if label == 0:
            continue
        voxels = int(counts[label])
        if label == roles.organ and roles.lesion is not None:
            voxels += int(counts[roles.lesion])
        row[f"{name}_ml"] = voxels * voxel_ml
    lesion_rows: list[dict[str, Any]] = []
    if roles.lesion is None:
        return row, lesion_rows
    lesion = roles.lesion_name or "lesion"
    lesions = _plural(lesion)
    if roles.organ is not None:
        organ_ml = row[f"{roles.organ_name}_ml"]
        row[f"{roles.organ_name}_without_{lesion}_ml"] = int(counts[roles.organ]) * voxel_ml
        row[f"{lesion}_burden_pct"] = 100.0 * row[f"{lesion}_ml"] / organ_ml if organ_ml > 0 else math.nan
    labelled, count, box = label_in_box(labels_zyx == roles.lesion)
    components = measure_labelled(labelled, count, spacing_zyx, lesion_min_voxels(min_lesion_mm3, spacing_zyx), box)
    row[f"n_{lesions}"] = len(components)
    row[f"largest_{lesion}_diameter_mm"] = max((c.diameter_mm for c in components), default=0.0)
    row[f"n_{lesions}_below_min"] = count - len(components)
    row[f"{lesion}_below_min_ml"] = (int(counts[roles.lesion]) - sum(c.voxels for c in components)) * voxel_ml
    row[f"min_{lesion}_volume_mm3"] = float(min_lesion_mm3)
    to_grid = None
    if affine is not None and grid_affine is not None:
        to_grid = np.linalg.inv(np.asarray(grid_affine, dtype=np.float64)) @ np.asarray(affine, dtype=np.float64)
    for component in components:
        z, y, x = component.centroid_zyx
        voxel = np.array([x, y, z, 1.0])
        item: dict[str, Any] = {
            lesion: component.index,
            "volume_ml": component.volume_ml,
            "diameter_mm": component.diameter_mm,
            "voxels": component.voxels,
        }
        i, j, k = (to_grid @ voxel)[:3] if to_grid is not None else voxel[:3]
        item.update({"voxel_i": float(i), "voxel_j": float(j), "voxel_k": float(k)})
        if affine is not None:
            position = np.asarray(affine, dtype=np.float64) @ voxel
            item.update({"x_mm": float(position[0]), "y_mm": float(position[1]), "z_mm": float(position[2])})
        lesion_rows.append(item)
    return row, lesion_rows


def volume_summary(row: dict[str, Any]) -> str:
    """The row of :func:`measure_label_volume` as one line a reader takes in at a glance, e.g.
    ``liver 1489.4 ml (1378.0 ml without tumours); 7 tumours, 111.4 ml, burden 7.5%, largest 82.8 mm;
    3 below 65 mm3 not listed (0.1 ml)``; without a lesion class, ``<class> N ml`` per class."""

    def number(key: str) -> float:
        try:
            return float(row.get(key, math.nan))
        except (TypeError, ValueError):
            return math.nan

    lesion = next((k[: -len("_burden_pct")] for k in row if k.endswith("_burden_pct")), None)
    if lesion is None:
        return ", ".join(f"{k[:-3]} {number(k):.1f} ml" for k in row if k.endswith("_ml")) or "nothing measured"
    lesions = _plural(lesion)
    organ_key = next(k for k in row if k.endswith(f"_without_{lesion}_ml"))
    organ = organ_key[: -len(f"_without_{lesion}_ml")]
    count, below = int(number(f"n_{lesions}")), int(number(f"n_{lesions}_below_min"))
    burden = number(f"{lesion}_burden_pct")
    parts = [
        f"{organ} {number(f'{organ}_ml'):.1f} ml ({number(organ_key):.1f} ml without {lesions})",
        f"{count} {lesion if count == 1 else lesions}, {number(f'{lesion}_ml'):.1f} ml"
        + (f", burden {burden:.1f}%" if math.isfinite(burden) else "")
        + (f", largest {number(f'largest_{lesion}_diameter_mm'):.1f} mm" if count else ""),
    ]
    if below:
        parts.append(
            f"{below} below {number(f'min_{lesion}_volume_mm3'):g} mm3 not listed "
            f"({number(f'{lesion}_below_min_ml'):.2f} ml)"
        )
    return "; ".join(parts)
