"""Mask post-processing: one region per class, holes filled, optional ellipse (fetal head)."""

from __future__ import annotations

import numpy as np

from medseg.config import PostprocessConfig
from medseg.measure.ellipse import Ellipse, fit_ellipse, largest_component, mask_contour, rasterize_ellipse


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
            ellipse = fit_ellipse(contour)
            out = rasterize_ellipse(ellipse, out.shape).astype(np.uint8)
    return out, ellipse
