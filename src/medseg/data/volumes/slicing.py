"""Volumes cut into axial 2D cases: label remapping, slice selection, per-slice geometry in ``meta``."""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from medseg.data.case import Case
from medseg.data.volumes.base import Volume
from medseg.errors import DataError


def remap_labels(labels: np.ndarray, label_map: dict[Any, Any] | None) -> np.ndarray:
    """Applies ``{old: new}`` to a label array (e.g. ``{2: 1}`` merges tumour into liver); others unchanged."""
    if not label_map:
        return labels
    lut = np.arange(256, dtype=np.uint8)
    for old, new in label_map.items():
        lut[int(old)] = int(new)
    return lut[labels]


def select_slices(
    labels_zyx: np.ndarray | None, n_slices: int, empty_fraction: float = 1.0, stride: int = 1, seed: int = 0
) -> list[int]:
    """Chooses which axial slices become cases.

    Args:
        labels_zyx: ``(Z, Y, X)`` labels or None (then every ``stride``-th slice).
        empty_fraction: fraction of the slices without foreground to keep (1: all, 0: foreground only),
            drawn at random with ``seed``.
        stride: consider every ``stride``-th slice only.

    Returns:
        Sorted slice indices.
    """
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    if not 0 <= empty_fraction <= 1:
        raise ValueError(f"empty_fraction must be in [0, 1], got {empty_fraction}")
    candidates = list(range(0, n_slices, stride))
    if labels_zyx is None or empty_fraction >= 1:
        return candidates
    has_foreground = labels_zyx.reshape(labels_zyx.shape[0], -1).max(axis=1) > 0
    full = [k for k in candidates if has_foreground[k]]
    empty = [k for k in candidates if not has_foreground[k]]
    n_keep = int(round(empty_fraction * len(empty)))
    kept = np.random.default_rng(seed).choice(len(empty), size=n_keep, replace=False) if n_keep else []
    return sorted(full + [empty[int(i)] for i in kept])


def volume_cases(
    volume: Volume,
    labels: np.ndarray | None,
    name: str,
    group: str | None = None,
    empty_fraction: float = 1.0,
    stride: int = 1,
    seed: int = 0,
    extra_meta: dict[str, Any] | None = None,
) -> list[Case]:
    """Cuts a volume (and its ``(Z, Y, X)`` labels) into axial 2D cases.

    Case ids are ``<name>_z<index>`` (``volume-3_z045``; just ``name`` for a single-slice volume).
    ``meta``: ``spacing_mm`` (row, col), ``group`` (default ``name``), ``volume_id``, ``slice_index``,
    ``n_slices``, ``slice_thickness_mm``, ``slice_position_mm`` (RAS of the slice's first voxel),
    ``affine`` (4x4 list, for :func:`write_prediction_nifti` / :func:`save_nifti`) and ``extra_meta``.

    Returns:
        Cases whose images are copies (the volume can be freed), masks uint8 or None.
    """

    n_slices = volume.array.shape[0]
    if labels is not None and tuple(labels.shape) != tuple(volume.array.shape[:3]):
        raise DataError(
            volume.source or name, f"labels {labels.shape} differ from the image volume {volume.array.shape[:3]}"
        )
    # A different seed per volume, reproducible across runs.
    volume_seed = seed + zlib.crc32(name.encode())
    indices = select_slices(labels, n_slices, empty_fraction, stride, volume_seed)
    width = max(3, len(str(n_slices - 1)))
    thickness = volume.spacing_zyx[0]
    cases = []
    for k in indices:
        case_id = name if n_slices == 1 else f"{name}_z{k:0{width}d}"
        meta = {
            "spacing_mm": volume.spacing_mm,
            "group": group or name,
            "volume_id": name,
            "slice_index": k,
            "n_slices": n_slices,
            "slice_thickness_mm": thickness,
            "slice_position_mm": [float(v) for v in (volume.affine @ np.array([0.0, 0.0, k, 1.0]))[:3]],
            "affine": volume.affine.tolist(),
            "reference": {},
            **(extra_meta or {}),
        }
        mask = None if labels is None else np.ascontiguousarray(labels[k])
        cases.append(Case(case_id, np.ascontiguousarray(volume.array[k]), mask, meta, volume.source))
    return cases
