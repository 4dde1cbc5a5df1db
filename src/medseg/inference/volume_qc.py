"""Quality control of a predicted volume: how much its structure volumes move under test-time
augmentation (each axial slice flipped left-right, then up-down, predicted, flipped back)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from medseg.inference.postprocess import postprocess_volume, small_lesion_minimum
from medseg.inference.qc import FLIPS  # the same flips as the 2D QC signals
from medseg.measure.qc import volume_spread_signals
from medseg.measure.volumes import measure_label_volume


def flipped_volume_labels(
    predictor: Any,
    array: np.ndarray,
    axis: int,
    postprocess_3d: bool,
    spacing_zyx: tuple[float, float, float] | None = None,
) -> np.ndarray:
    """``(Z, Y, X)`` labels of the volume with every slice flipped along ``axis`` (0: rows, 1: columns),
    predicted without TTA and flipped back (post-processed in 3D as the volume itself, with ``spacing_zyx``
    for ``postprocess.remove_small_lesions``)."""
    plain = copy.copy(predictor)
    plain.tta = False
    labels = np.zeros(array.shape[:3], dtype=np.uint8)
    for k in range(array.shape[0]):
        flipped = np.ascontiguousarray(np.flip(array[k], axis=axis))
        labels[k] = np.flip(plain.predict(flipped).mask, axis=axis)
    if postprocess_3d:
        minimum = small_lesion_minimum(predictor.config)
        labels = postprocess_volume(labels, list(predictor.config.data.class_names), spacing_zyx, minimum)
    return labels


def volume_qc(
    predictor: Any,
    array: np.ndarray,
    labels: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    postprocess_3d: bool,
) -> dict[str, float]:
    """QC signals of one predicted volume: ``qc_<structure>_ml_spread`` and ``qc_<structure>_spread_pct``
    over the plain prediction and its two flipped counterparts (see :func:`volume_spread_signals`).

    Args:
        predictor: the predictor that made ``labels`` (with ``config``, ``tta`` and ``predict``).
        array: ``(Z, Y, X)`` or ``(Z, Y, X, C)`` volume.
        labels: ``(Z, Y, X)`` its predicted labels (post-processed as ``postprocess_3d`` says).
        spacing_zyx: voxel size in mm.
        postprocess_3d: whether ``labels`` went through :func:`postprocess_volume` (the flipped
            predictions are treated the same way).
    """
    class_names = list(predictor.config.data.class_names)
    measured = [measure_label_volume(labels, spacing_zyx, class_names)[0]]
    for axis in FLIPS:
        flipped = flipped_volume_labels(predictor, array, axis, postprocess_3d, spacing_zyx)
        measured.append(measure_label_volume(flipped, spacing_zyx, class_names)[0])
    return volume_spread_signals(measured)
