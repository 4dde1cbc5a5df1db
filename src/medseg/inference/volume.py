"""Prediction on 3D volumes: a 2D predictor run slice by slice, labels written in the input's geometry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medseg.data.volumes import load_volume
from medseg.data.volumes.dicom import write_prediction_for_dicom
from medseg.data.volumes.nifti import is_nifti, write_prediction_nifti


def predict_volume(predictor: Any, input_path: str | Path, out_path: str | Path) -> tuple[Path, np.ndarray]:
    """Runs a 2D predictor slice by slice over a volume and writes the label volume as NIfTI.

    Args:
        predictor: a :class:`medseg.inference.Predictor` (anything with ``predict(image).mask``).
        input_path: NIfTI file (labels written with its affine and header), or DICOM series folder/zip
            (labels written aligned to the series).
        out_path: ``.nii.gz`` file to write.

    Returns:
        ``out_path`` and the ``(Z, Y, X)`` uint8 labels.
    """
    volume = load_volume(input_path)
    labels = np.zeros(volume.array.shape[:3], dtype=np.uint8)
    for k in range(volume.array.shape[0]):
        labels[k] = predictor.predict(volume.array[k]).mask
    if is_nifti(input_path):
        write_prediction_nifti(labels, input_path, out_path, order="zyx")
    else:
        write_prediction_for_dicom(labels, volume, out_path)
    return Path(out_path), labels
