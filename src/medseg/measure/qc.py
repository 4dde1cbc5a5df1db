"""Quality-control signals: how much to trust one predicted mask and its measurement.

Each function returns a dict of named signals (columns of ``per_case.csv`` / ``measurements.csv``).
:data:`SIGNALS` says, for every signal, whether a higher value is worse; a calibration on the
validation split (:mod:`medseg.inference.qc`) turns them into one ``qc_flag``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from medseg.measure.ellipse import Ellipse, ellipse_outline_points, largest_component, mask_contour

# signal name -> True when a higher value means a less trustworthy case
SIGNALS: dict[str, bool] = {
    "qc_components": True,
    "qc_largest_share": False,
    "qc_fit_residual_mean_mm": True,
    "qc_fit_residual_max_mm": True,
    "qc_tta_dice_min": False,
    "qc_tta_hc_spread_mm": True,
    "qc_boundary_entropy": True,
    "qc_fold_hc_spread_mm": True,
}


def component_signals(mask: np.ndarray) -> dict[str, float]:
    """Fragmentation of a raw (not post-processed) binary mask.

    Args:
        mask: ``(H, W)`` binary mask.

    Returns:
        ``qc_components`` (8-connected foreground components) and ``qc_largest_share`` (the largest
        component's share of the foreground; 0 for an empty mask).
    """
    labels, count = ndimage.label(np.asarray(mask) > 0, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return {"qc_components": 0.0, "qc_largest_share": 0.0}
    sizes = np.bincount(labels.ravel())[1:]
    return {"qc_components": float(count), "qc_largest_share": float(sizes.max() / sizes.sum())}


def ellipse_fit_residual(mask: np.ndarray, ellipse: Ellipse | None, pixel_size_mm: float) -> dict[str, float]:
    """Distance of a mask's edge to the ellipse fitted to it (a ragged or non-elliptic head is suspect).

    Args:
        mask: ``(H, W)`` binary mask before the ellipse replaced it (largest component is taken).
        ellipse: the ellipse fitted to that mask (pixels), or None.
        pixel_size_mm: isotropic pixel size.

    Returns:
        ``qc_fit_residual_mean_mm`` and ``qc_fit_residual_max_mm`` (NaN without a mask or ellipse).
    """
    contour = mask_contour(largest_component(np.asarray(mask) > 0))
    if ellipse is None or len(contour) < 5:
        return {"qc_fit_residual_mean_mm": math.nan, "qc_fit_residual_max_mm": math.nan}
    samples = max(720, int(4 * ellipse.perimeter))
    distances, _ = cKDTree(ellipse_outline_points(ellipse, samples)).query(contour)
    return {
        "qc_fit_residual_mean_mm": float(distances.mean() * pixel_size_mm),
        "qc_fit_residual_max_mm": float(distances.max() * pixel_size_mm),
    }


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice of two binary masks (1 when both are empty)."""
    a, b = np.asarray(a) > 0, np.asarray(b) > 0
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * float(np.logical_and(a, b).sum()) / total


def agreement_signals(masks: list[np.ndarray], hcs_mm: list[float], prefix: str = "qc_tta") -> dict[str, float]:
    """Disagreement between predictions of the same image (test-time augmentations, or folds).

    Args:
        masks: ``(H, W)`` binary masks, one per augmentation (or model), in the image's frame.
        hcs_mm: the head circumference measured on each (NaN where none was found).
        prefix: ``qc_tta`` or ``qc_fold``.

    Returns:
        ``{prefix}_dice_min`` (lowest Dice of any mask with the first, i.e. the plain prediction) and
        ``{prefix}_hc_spread_mm`` (max - min HC; infinite when some but not all found a head).
    """
    dices = [dice(masks[0], other) for other in masks[1:]] or [1.0]
    values = np.asarray(hcs_mm, dtype=float)
    if np.isnan(values).all():
        spread = math.nan
    elif np.isnan(values).any():
        spread = math.inf
    else:
        spread = float(values.max() - values.min())
    return {f"{prefix}_dice_min": float(min(dices)), f"{prefix}_hc_spread_mm": spread}


def boundary_entropy(probabilities: np.ndarray, mask: np.ndarray, width: int = 2) -> dict[str, float]:
    """Mean predictive entropy (nats) in a band of ``width`` pixels on each side of the mask's edge.

    A confident network has near-zero entropy even at the edge; a blurred, hesitant edge scores high.

    Args:
        probabilities: ``(C, H, W)`` softmax probabilities.
        mask: ``(H, W)`` binary mask whose edge defines the band.
    """
    region = np.asarray(mask) > 0
    band = ndimage.binary_dilation(region, iterations=width) & ~ndimage.binary_erosion(region, iterations=width)
    if not band.any():
        return {"qc_boundary_entropy": math.nan}
    p = np.clip(probabilities[:, band], 1e-7, 1.0)
    entropy = -(p * np.log(p)).sum(axis=0)
    return {"qc_boundary_entropy": float(entropy.mean())}


def volume_spread_signals(measurements: list[dict[str, float]]) -> dict[str, float]:
    """Disagreement of one volume's structure volumes across several predictions of it.

    Args:
        measurements: one dict per prediction (plain first, then e.g. flipped ones), each with the
            ``<structure>_ml`` keys of :func:`medseg.measure.volumes.measure_label_volume`.

    Returns:
        Per structure ``qc_<structure>_ml_spread`` (largest minus smallest volume, ml) and
        ``qc_<structure>_spread_pct`` (that spread against the first prediction's volume, %;
        NaN when it is empty).
    """
    signals: dict[str, float] = {}
    keys = [key for key in measurements[0] if key.endswith("_ml")] if measurements else []
    for key in keys:
        values = np.array([float(m[key]) for m in measurements])
        spread = float(values.max() - values.min())
        structure = key[: -len("_ml")]
        signals[f"qc_{structure}_ml_spread"] = spread
        signals[f"qc_{structure}_spread_pct"] = 100.0 * spread / values[0] if values[0] > 0 else math.nan
    return signals
