"""Organ and lesion volumes from a label volume: millilitres, lesion count, burden and diameters.

Label meaning comes from the class names of the run's config (``data.class_names``): the lesion
class is the first foreground class named like a lesion (``tumour``, ``tumor``, ``lesion``,
``cancer``, ``metastasis``), the organ class the first other foreground class (e.g.
``[background, liver, tumour]``: organ ``liver`` = 1, lesion ``tumour`` = 2). Lesions are the
26-connected components of the lesion class (:mod:`medseg.measure.components`).

Columns of one volume's row (names from the class names; ``liver``/``tumour`` here):

- ``<class>_ml`` for each foreground class; the organ's ``liver_ml`` *includes* the lesions inside it
  (the clinical liver volume: liver and tumour labels together), ``tumour_ml`` is the lesion class alone.
- ``tumour_burden_pct``: ``100 * tumour_ml / liver_ml``.
- ``n_tumours`` and ``largest_tumour_diameter_mm`` (maximum Feret diameter, 3D).

One row per lesion: ``tumour`` (1.. by decreasing volume), ``volume_ml``, ``diameter_mm``, and where an
affine is given, its centroid ``x_mm, y_mm, z_mm`` in RAS scanner coordinates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from medseg.measure.components import measure_components

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


def measure_label_volume(
    labels_zyx: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    class_names: list[str],
    affine: np.ndarray | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Volumes, lesion count, burden and lesion diameters of one ``(Z, Y, X)`` label volume.

    Args:
        labels_zyx: ``(Z, Y, X)`` integer labels (0 background).
        spacing_zyx: voxel size in mm along ``(Z, Y, X)``.
        class_names: label names in label order, background first.
        affine: optional ``(4, 4)`` voxel ``(x, y, z)`` -> RAS mm for ``labels_zyx.transpose(2, 1, 0)``,
            for lesion centroids in mm.

    Returns:
        The volume's row (columns in the module docstring) and one row per lesion.
    """
    voxel_ml = float(np.prod(spacing_zyx)) / 1000.0
    counts = np.bincount(np.asarray(labels_zyx).ravel().astype(np.int64), minlength=len(class_names))
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
    if roles.organ is not None:
        organ_ml = row[f"{roles.organ_name}_ml"]
        row[f"{lesion}_burden_pct"] = 100.0 * row[f"{lesion}_ml"] / organ_ml if organ_ml > 0 else math.nan
    components = measure_components(labels_zyx == roles.lesion, spacing_zyx)
    row[f"n_{_plural(lesion)}"] = len(components)
    row[f"largest_{lesion}_diameter_mm"] = max((c.diameter_mm for c in components), default=0.0)
    for component in components:
        item: dict[str, Any] = {
            lesion: component.index,
            "volume_ml": component.volume_ml,
            "diameter_mm": component.diameter_mm,
        }
        if affine is not None:
            z, y, x = component.centroid_zyx
            position = np.asarray(affine, dtype=np.float64) @ np.array([x, y, z, 1.0])
            item.update({"x_mm": float(position[0]), "y_mm": float(position[1]), "z_mm": float(position[2])})
        lesion_rows.append(item)
    return row, lesion_rows
