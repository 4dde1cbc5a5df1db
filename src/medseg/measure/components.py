"""3D connected components of a mask: labelling, the largest one, volume and largest diameter in mm.

Components are 26-connected (voxels touching by a face, an edge or a corner belong together).
Diameters are maximum Feret diameters: the largest distance in mm between the centres of two voxels
of the component (a voxel belongs to a structure when its centre does, so for a sphere of radius r the
farthest voxel centres lie just inside 2 r: measured 19.96 mm for r = 10 mm at 1.5 x 0.8 x 0.8 mm
voxels; a one-voxel component measures 0). Only the vertices of the convex hull of the boundary
voxels are compared, so a large component costs milliseconds. A surface-based alternative (marching
cubes at level 0.5) overestimated the same sphere by 6%: the voxel staircase sticks out diagonally.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError
from scipy.spatial.distance import pdist

FULL_CONNECTIVITY = np.ones((3, 3, 3), dtype=bool)


@dataclass(frozen=True)
class Component:
    """One connected component.

    Attributes:
        index: 1.. in order of decreasing volume.
        voxels: number of voxels.
        volume_ml: voxels times the voxel volume.
        diameter_mm: maximum Feret diameter.
        centroid_zyx: mean voxel index ``(z, y, x)``.
    """

    index: int
    voxels: int
    volume_ml: float
    diameter_mm: float
    centroid_zyx: tuple[float, float, float]


def bounding_box(mask: np.ndarray) -> tuple[slice, ...] | None:
    """The slices of the smallest box holding every True voxel of ``mask`` (None when there is none)."""
    mask = np.asarray(mask, dtype=bool)
    box = []
    for axis in range(mask.ndim):
        hits = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
        if len(hits) == 0:
            return None
        box.append(slice(int(hits[0]), int(hits[-1]) + 1))
    return tuple(box)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.binary_fill_holes`` of an ``(H, W)`` mask, computed inside its bounding box.

    The same result: everything outside the box is background connected to the border, so the box
    with a one-pixel background rim decides every hole. A head fills a fraction of an ultrasound
    frame, so this is several times faster.
    """
    mask = np.asarray(mask, dtype=bool)
    box = bounding_box(mask)
    if box is None:
        return mask.copy()
    filled = mask.copy()
    filled[box] = ndimage.binary_fill_holes(np.pad(mask[box], 1))[(slice(1, -1),) * mask.ndim]
    return filled


def label_in_box(mask: np.ndarray) -> tuple[np.ndarray, int, tuple[slice, ...] | None]:
    """26-connected components inside the mask's bounding box (a CT organ fills a fraction of the
    volume: labelling only the box is several times faster): ``(int32 labels of the box, n, box)``,
    the box None for an empty mask."""
    mask = np.asarray(mask, dtype=bool)
    box = bounding_box(mask)
    if box is None:
        return np.zeros((0,) * mask.ndim, dtype=np.int32), 0, None
    labels, count = ndimage.label(mask[box], structure=FULL_CONNECTIVITY)
    return labels, int(count), box


def label_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """26-connected components of a ``(Z, Y, X)`` mask: ``(int32 labels 0..n, n)``."""
    inside, count, box = label_in_box(mask)
    labels = np.zeros(np.shape(mask), dtype=np.int32)
    if box is not None:
        labels[box] = inside
    return labels, count


def largest_component_3d(mask: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
    """The largest 26-connected component of a ``(Z, Y, X)`` mask (all False when empty).

    Args:
        weight: optional ``(Z, Y, X)`` bool; the component holding most ``weight`` voxels wins (e.g. the
            component with most liver voxels among liver-or-tumour components).
    """
    keep = np.zeros(np.shape(mask), dtype=bool)
    labels, count, box = label_in_box(mask)
    if box is None:
        return keep
    if count <= 1 and weight is None:
        keep[box] = labels > 0
        return keep
    counted = labels if weight is None else labels[np.asarray(weight, dtype=bool)[box]]
    sizes = np.bincount(counted.ravel(), minlength=count + 1)
    sizes[0] = 0
    if sizes.max() == 0:
        return keep
    keep[box] = labels == int(np.argmax(sizes))
    return keep


def feret_diameter_mm(mask: np.ndarray, spacing_zyx: tuple[float, float, float]) -> float:
    """Maximum Feret diameter of a ``(Z, Y, X)`` mask in mm: the largest distance between voxel centres
    (0 for an empty or one-voxel mask)."""
    mask = np.asarray(mask, dtype=bool)
    boundary = mask & ~ndimage.binary_erosion(mask, structure=FULL_CONNECTIVITY)
    points = np.argwhere(boundary) * np.asarray(spacing_zyx, dtype=np.float64)
    if len(points) < 2:
        return 0.0
    if len(points) > 4:
        try:
            points = points[ConvexHull(points).vertices]
        except QhullError:  # all in one plane or line: the joggled hull keeps the extreme points
            points = points[ConvexHull(points, qhull_options="QJ").vertices]
    return float(np.sqrt(pdist(points, "sqeuclidean").max()))


def measure_components(
    mask: np.ndarray, spacing_zyx: tuple[float, float, float], min_voxels: int = 1
) -> list[Component]:
    """Every 26-connected component of a ``(Z, Y, X)`` mask of at least ``min_voxels`` voxels, largest first.

    Args:
        spacing_zyx: voxel size in mm along ``(Z, Y, X)``.
        min_voxels: smaller components are left out (and not measured).

    Returns:
        One :class:`Component` per component (empty list for an empty mask).
    """
    labels, count, box = label_in_box(mask)
    return measure_labelled(labels, count, spacing_zyx, min_voxels, box)


def measure_labelled(
    labels: np.ndarray,
    count: int,
    spacing_zyx: tuple[float, float, float],
    min_voxels: int = 1,
    box: tuple[slice, ...] | None = None,
) -> list[Component]:
    """:func:`measure_components` of the ``(labels, count)`` that :func:`label_components` returned, or of
    the ``(labels, count, box)`` of :func:`label_in_box` (centroids then count from the box's corner)."""
    if count == 0:
        return []
    corner = [0, 0, 0] if box is None else [s.start for s in box]
    voxel_ml = float(np.prod(spacing_zyx)) / 1000.0
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    boxes = ndimage.find_objects(labels)
    found = []
    for label in range(1, count + 1):
        if sizes[label] < min_voxels:
            continue
        part = boxes[label - 1]
        region = labels[part] == label
        centre = np.argwhere(region).mean(axis=0) + [s.start for s in part] + corner
        found.append(
            (
                int(sizes[label]),
                feret_diameter_mm(region, spacing_zyx),
                (float(centre[0]), float(centre[1]), float(centre[2])),
            )
        )
    found.sort(key=lambda item: -item[0])
    return [
        Component(index, voxels, voxels * voxel_ml, diameter, centroid)
        for index, (voxels, diameter, centroid) in enumerate(found, start=1)
    ]
