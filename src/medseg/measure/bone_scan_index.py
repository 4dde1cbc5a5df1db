"""The Bone Scan Index (BSI) of a whole-body bone scan, from a segmentation.

Definition used here: on one view (anterior or posterior), the BSI is the **area of abnormal
hotspots as a percentage of the skeleton's area**, where the skeleton is every pixel labelled
bone or hotspot (hotspots lie on bone)::

    BSI_view = 100 * hotspot pixels / (bone pixels + hotspot pixels)

Label schemes (see :mod:`medseg.data.readers.bone_scan`):

- 4 segments (0 background, 1 bone, 2 normal uptake, 3 hotspot): normal uptake (kidneys,
  bladder) is not skeleton and does not count.
- 3 segments (0 background, 1 bone, 2 hotspot): normal uptake is already merged into bone, so
  the skeleton area includes it and the BSI comes out lower than with 4 segments on the same scan.

A patient's BSI is given per view and as the mean of the views present. This is an area share on
planar images: it is not the weight-based BSI of Imbert et al. (hotspot mass as a share of the
skeletal mass, with per-bone weights), and on the synthetic scans medseg ships it is a check of the
measurement, not a clinical value.
"""

from __future__ import annotations

import math

import numpy as np

HOTSPOT_LABEL = {4: 3, 3: 2}
SKELETON_LABELS = {4: (1, 3), 3: (1, 2)}


def bone_scan_index(labels: np.ndarray, scheme: int = 4, spacing_mm: tuple[float, float] | None = None) -> dict:
    """BSI of one view.

    Args:
        labels: ``(H, W)`` label map in the 3- or 4-segment scheme.
        scheme: 4 or 3.
        spacing_mm: ``(row, col)`` pixel spacing; with it the areas are also given in mm^2.

    Returns:
        ``{"skeleton_px", "hotspot_px", "bsi_percent"}`` (NaN BSI when there is no skeleton), plus
        ``skeleton_mm2`` and ``hotspot_mm2`` with a spacing.

    Raises:
        ValueError: unknown scheme or labels outside it.
    """
    if scheme not in HOTSPOT_LABEL:
        raise ValueError(f"scheme must be 3 or 4, got {scheme}")
    if labels.ndim != 2:
        raise ValueError(f"labels must be 2D (H, W), got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= scheme):
        raise ValueError(f"labels {sorted(np.unique(labels).tolist())} are outside the {scheme}-segment scheme")
    hotspot = int(np.count_nonzero(labels == HOTSPOT_LABEL[scheme]))
    skeleton = int(np.count_nonzero(np.isin(labels, SKELETON_LABELS[scheme])))
    row: dict[str, float] = {
        "skeleton_px": skeleton,
        "hotspot_px": hotspot,
        "bsi_percent": 100.0 * hotspot / skeleton if skeleton else math.nan,
    }
    if spacing_mm is not None:
        pixel = float(spacing_mm[0]) * float(spacing_mm[1])
        row["skeleton_mm2"], row["hotspot_mm2"] = skeleton * pixel, hotspot * pixel
    return row


def patient_bone_scan_index(views: dict[str, np.ndarray], scheme: int = 4) -> dict[str, float]:
    """A patient's BSI per view and their mean.

    Args:
        views: ``{"anterior": labels (H, W), "posterior": labels (H, W)}`` (either may be missing).

    Returns:
        ``{"bsi_<view>_percent": ..., "bsi_mean_percent": ...}``.
    """
    row = {f"bsi_{view}_percent": bone_scan_index(labels, scheme)["bsi_percent"] for view, labels in views.items()}
    finite = [v for v in row.values() if math.isfinite(v)]
    row["bsi_mean_percent"] = float(np.mean(finite)) if finite else math.nan
    return row
