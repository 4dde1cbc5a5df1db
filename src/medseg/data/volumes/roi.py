"""A volume's region of interest and its neighbouring slices, for the second stage of a cascade.

A cascade (nnU-Net's, the LiTS leaders') segments the organ at low resolution first, then segments
organ and lesions again inside the organ's bounding box at the CT's own in-plane resolution, with
the neighbouring slices as extra channels (2.5D). Training cuts the box from the reference labels,
prediction from the first stage's labels; both go through :func:`region_box` and :func:`crop_volume`.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from medseg.data.volumes.base import Volume

Box = tuple[slice, slice, slice]


def region_box(mask_zyx: np.ndarray, spacing_zyx: tuple[float, float, float], margin_mm: float) -> Box | None:
    """The bounding box of the mask's non-zero voxels, widened by ``margin_mm`` on every side.

    Args:
        mask_zyx: ``(Z, Y, X)`` labels; every non-zero voxel belongs to the region.
        spacing_zyx: voxel size in mm along ``(Z, Y, X)``.
        margin_mm: added on each side (rounded up to whole voxels), clipped at the volume's edges.

    Returns:
        ``(z, y, x)`` slices, or None when the mask is empty.
    """
    if margin_mm < 0:
        raise ValueError(f"margin_mm must be >= 0, got {margin_mm}")
    where = np.nonzero(mask_zyx)
    if not where[0].size:
        return None
    box = []
    for axis, (size, spacing) in enumerate(zip(mask_zyx.shape, spacing_zyx, strict=True)):
        pad = math.ceil(margin_mm / spacing) if spacing > 0 else 0
        box.append(slice(max(0, int(where[axis].min()) - pad), min(size, int(where[axis].max()) + 1 + pad)))
    return box[0], box[1], box[2]


def crop_volume(volume: Volume, box: Box) -> Volume:
    """``volume`` cut to ``box`` (first three axes), its affine moved to the box's first voxel."""
    shift = np.eye(4)
    shift[:3, 3] = [box[2].start, box[1].start, box[0].start]  # the affine maps (x, y, z) voxels
    return replace(volume, array=volume.array[box], affine=volume.affine @ shift)


def with_context(array_zyx: np.ndarray, slices: int) -> np.ndarray:
    """Each axial slice with its ``slices`` neighbours on either side as channels (2.5D).

    Args:
        array_zyx: ``(Z, Y, X)``.
        slices: neighbours per side; at the volume's ends the edge slice is repeated.

    Returns:
        ``(Z, Y, X, 2 * slices + 1)``, channel ``slices`` being the slice itself (the array itself
        when ``slices`` is 0).
    """
    if slices < 0:
        raise ValueError(f"context slices must be >= 0, got {slices}")
    if slices == 0:
        return array_zyx
    depth = array_zyx.shape[0]
    index = np.clip(np.arange(depth)[:, None] + np.arange(-slices, slices + 1)[None, :], 0, depth - 1)
    return np.moveaxis(array_zyx[index], 1, -1)  # (Z, C, Y, X) -> (Z, Y, X, C)
