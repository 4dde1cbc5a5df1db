"""Mask post-processing: one region per class, holes filled, optional ellipse (fetal head); for volumes,
the organ's largest 3D component with the lesions inside or touching it, and (optionally) no lesion
below the listed minimum."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from medseg.config import PostprocessConfig
from medseg.measure.components import FULL_CONNECTIVITY, fill_holes, label_in_box, largest_component_3d
from medseg.measure.ellipse import (
    Ellipse,
    fit_ellipse,
    fit_ellipse_trimmed,
    largest_component,
    mask_contour,
    rasterize_ellipse,
)
from medseg.measure.volumes import label_roles, lesion_min_voxels


def probabilities_to_labels(probabilities: np.ndarray, cfg: PostprocessConfig) -> np.ndarray:
    """Label map of ``(K, ...)`` class probabilities: the argmax, or for two classes foreground where its
    probability reaches ``cfg.threshold`` (the same at 0.5, bar exact ties).

    Returns:
        ``(...)`` uint8 labels.
    """
    if probabilities.shape[0] == 2:
        if cfg.threshold != 0.5:
            return (probabilities[1] >= cfg.threshold).astype(np.uint8)
        return (probabilities[1] > probabilities[0]).astype(np.uint8)  # the argmax (ties: 0), 10x faster
    return probabilities.argmax(0).astype(np.uint8)


def postprocess(labels: np.ndarray, cfg: PostprocessConfig, num_classes: int) -> tuple[np.ndarray, Ellipse | None]:
    """Cleans a predicted label map.

    Args:
        labels: ``(H, W)`` uint8 label map.
        cfg: which steps to apply.
        num_classes: including background.

    Returns:
        The cleaned ``(H, W)`` label map and, when ``cfg.fit_ellipse`` (binary tasks only), the
        fitted ellipse that replaced the foreground (``None`` if there was no foreground).
    """
    out = labels.copy()
    for label in range(1, num_classes):
        region = labels == label
        if not region.any():
            continue
        if cfg.largest_component:
            region = largest_component(region, fill_holes=cfg.fill_holes)
        elif cfg.fill_holes:
            region = fill_holes(region)
        out[(out == label) & ~region] = 0
        out[region] = label
    ellipse = None
    if cfg.fit_ellipse:
        if num_classes != 2:
            raise ValueError("postprocess.fit_ellipse applies to binary (2-class) tasks only")
        contour = mask_contour(out == 1)
        if len(contour) >= 5:
            ellipse = fit_ellipse(contour) if cfg.ellipse_keep >= 1 else fit_ellipse_trimmed(contour, cfg.ellipse_keep)
            out = rasterize_ellipse(ellipse, out.shape).astype(np.uint8)
    return out, ellipse


def postprocess_volume(
    labels_zyx: np.ndarray,
    class_names: list[str],
    spacing_zyx: tuple[float, float, float] | None = None,
    min_lesion_mm3: float = 0.0,
) -> np.ndarray:
    """Keeps the organ's largest 3D component and the lesions inside or touching it.

    Organ and lesion classes come from ``class_names`` (:func:`medseg.measure.volumes.label_roles`). Organ
    and lesion voxels together form 26-connected components; the component holding most organ voxels
    stays, every other organ or lesion voxel becomes background (so a lesion away from the organ, or a
    volume with no organ voxel at all, loses its lesions). Other classes are left as they are.

    Args:
        labels_zyx: ``(Z, Y, X)`` uint8 labels.
        spacing_zyx, min_lesion_mm3: with both (and a minimum above 0), lesions under the minimum are then
            removed as :func:`remove_small_lesions` does (:func:`small_lesion_minimum` of a config).

    Returns:
        The cleaned ``(Z, Y, X)`` labels (a copy); unchanged when the classes name no organ.
    """
    roles = label_roles(class_names)
    out = labels_zyx.copy()
    if roles.organ is None:
        return out
    organ = labels_zyx == roles.organ
    foreground = organ if roles.lesion is None else organ | (labels_zyx == roles.lesion)
    keep = largest_component_3d(foreground, weight=organ)
    out[foreground & ~keep] = 0
    if spacing_zyx is not None and min_lesion_mm3 > 0:
        out = remove_small_lesions(out, class_names, spacing_zyx, min_lesion_mm3)
    return out


def small_lesion_minimum(config: Any) -> float:
    """The minimum lesion volume (mm3) the 3D post-processing removes below: the config's
    ``eval.min_lesion_volume_mm3`` with ``postprocess.remove_small_lesions``, else 0 (nothing removed)."""
    return float(config.eval.min_lesion_volume_mm3) if config.postprocess.remove_small_lesions else 0.0


def remove_small_lesions(
    labels_zyx: np.ndarray, class_names: list[str], spacing_zyx: tuple[float, float, float], min_lesion_mm3: float
) -> np.ndarray:
    """Lesion components (26-connected) under ``min_lesion_mm3`` become the organ where they touch it
    (their voxels lay in the organ's region) and background elsewhere.

    Args:
        labels_zyx: ``(Z, Y, X)`` uint8 labels; classes as in :func:`postprocess_volume`.
        spacing_zyx: voxel size in mm.
        min_lesion_mm3: the smallest lesion kept (the same rule as the lesion list of
            :func:`medseg.measure.volumes.measure_label_volume`).

    Returns:
        The labels (a copy); unchanged without a lesion class.
    """
    roles = label_roles(class_names)
    out = labels_zyx.copy()
    if roles.lesion is None:
        return out
    components, count, box = label_in_box(labels_zyx == roles.lesion)
    if box is None:
        return out
    min_voxels = lesion_min_voxels(min_lesion_mm3, spacing_zyx)
    sizes = np.bincount(components.ravel(), minlength=count + 1)
    small = sizes < min_voxels
    small[0] = False
    in_small = small[components]
    if not in_small.any():
        return out
    touching = np.zeros(count + 1, dtype=bool)
    if roles.organ is not None:
        # the organ one voxel around the lesions' box: a component touches it where the dilated organ meets it
        grown = tuple(slice(max(b.start - 1, 0), min(b.stop + 1, n)) for b, n in zip(box, out.shape, strict=True))
        near = ndimage.binary_dilation(labels_zyx[grown] == roles.organ, structure=FULL_CONNECTIVITY)
        near = near[tuple(slice(b.start - g.start, b.stop - g.start) for b, g in zip(box, grown, strict=True))]
        touching[np.unique(components[in_small & near])] = True
    region = out[box]
    region[in_small] = np.where(touching[components[in_small]], roles.organ or 0, 0)
    return out
