"""Mask post-processing: one region per class, holes filled, optional ellipse (fetal head); for volumes,
the organ's largest 3D component with the lesions inside or touching it."""

from __future__ import annotations

import numpy as np

from medseg.config import PostprocessConfig
from medseg.measure.components import largest_component_3d
from medseg.measure.ellipse import (
    Ellipse,
    fit_ellipse,
    fit_ellipse_trimmed,
    largest_component,
    mask_contour,
    rasterize_ellipse,
)
from medseg.measure.volumes import label_roles


def probabilities_to_labels(probabilities: np.ndarray, cfg: PostprocessConfig) -> np.ndarray:
    """Label map of ``(K, ...)`` class probabilities: the argmax, or for two classes foreground where its
    probability reaches ``cfg.threshold`` (the same at 0.5, bar exact ties).

    Returns:
        ``(...)`` uint8 labels.
    """
    if probabilities.shape[0] == 2 and cfg.threshold != 0.5:
        return (probabilities[1] >= cfg.threshold).astype(np.uint8)
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
            from scipy import ndimage

            region = ndimage.binary_fill_holes(region)
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


def postprocess_volume(labels_zyx: np.ndarray, class_names: list[str]) -> np.ndarray:
    """Keeps the organ's largest 3D component and the lesions inside or touching it.

    Organ and lesion classes come from ``class_names`` (:func:`medseg.measure.volumes.label_roles`). Organ
    and lesion voxels together form 26-connected components; the component holding most organ voxels
    stays, every other organ or lesion voxel becomes background (so a lesion away from the organ, or a
    volume with no organ voxel at all, loses its lesions). Other classes are left as they are.

    Args:
        labels_zyx: ``(Z, Y, X)`` uint8 labels.

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
    return out
