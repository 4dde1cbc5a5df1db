"""3D volumes: NIfTI and DICOM series in, axial 2D slices out, label volumes written back aligned.

Modules: :mod:`~medseg.data.volumes.base` (the :class:`Volume` record), :mod:`~medseg.data.volumes.nifti`
(NIfTI I/O), :mod:`~medseg.data.volumes.dicom` (DICOM series reading, checks and geometry) and
:mod:`~medseg.data.volumes.slicing` (volume -> slice cases).

Conventions:

- A :class:`Volume` holds ``array`` as ``(Z, Y, X)`` axial slices; slice ``k`` is ``array[k]``, an
  ``(H, W)`` image whose rows run anterior -> posterior and columns patient right -> left (the
  radiological display of a DICOM viewer). NIfTI files are reoriented to that order (axis codes
  ``L, P, S`` for the stored ``(x, y, z)`` = ``array.transpose(2, 1, 0)``) unless ``orientation=None``.
- ``affine`` maps voxel indices ``(x, y, z)`` of ``array.transpose(2, 1, 0)`` to RAS+ millimetres, as
  nibabel stores it. DICOM patient coordinates (LPS) are converted with ``diag(-1, -1, 1)``.
- A label volume predicted on the slices is written back with the input's own affine and header
  (:func:`write_prediction_nifti`), so it overlays the input in any viewer.
"""

from __future__ import annotations

from pathlib import Path

from medseg.data.volumes.base import DISPLAY_AXCODES, LPS_TO_RAS, Volume
from medseg.data.volumes.dicom import (
    DicomFile,
    dicom_affine,
    dicom_files_in_folder,
    dicom_files_in_zip,
    load_dicom_series,
    read_dicom_series,
    write_prediction_for_dicom,
)
from medseg.data.volumes.nifti import (
    NIFTI_SUFFIXES,
    is_nifti,
    load_nifti,
    nifti_stem,
    save_nifti,
    slices_to_source,
    write_prediction_nifti,
)
from medseg.data.volumes.slicing import remap_labels, select_slices, volume_cases


def load_volume(path: str | Path) -> Volume:
    """A NIfTI file, a DICOM folder or a zip of a DICOM series."""
    return load_nifti(path) if is_nifti(path) else load_dicom_series(path)


__all__ = [
    "DISPLAY_AXCODES",
    "LPS_TO_RAS",
    "NIFTI_SUFFIXES",
    "DicomFile",
    "Volume",
    "dicom_affine",
    "dicom_files_in_folder",
    "dicom_files_in_zip",
    "is_nifti",
    "load_dicom_series",
    "load_nifti",
    "load_volume",
    "nifti_stem",
    "read_dicom_series",
    "remap_labels",
    "save_nifti",
    "select_slices",
    "slices_to_source",
    "volume_cases",
    "write_prediction_for_dicom",
    "write_prediction_nifti",
]
