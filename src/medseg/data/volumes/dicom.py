"""DICOM series: files from a folder or zip, slices sorted and checked, geometry as a RAS affine."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medseg.data.volumes.base import LPS_TO_RAS, Volume
from medseg.data.volumes.nifti import save_nifti
from medseg.errors import DataError

DicomFile = tuple[str, Callable[[], bytes]]  # (name, loader of the file's bytes)


def dicom_files_in_folder(folder: str | Path) -> list[DicomFile]:
    """Every regular file under ``folder`` (recursively) except DICOMDIR and hidden files."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "DICOM folder not found")
    paths = sorted(
        p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".") and p.name.upper() != "DICOMDIR"
    )
    return [(str(p), p.read_bytes) for p in paths]


def dicom_files_in_zip(archive: zipfile.ZipFile, prefix: str) -> list[DicomFile]:
    """Files of ``archive`` whose names start with ``prefix`` (a folder inside the zip, ending in ``/``)."""
    names = [n for n in archive.namelist() if n.startswith(prefix) and not n.endswith("/")]
    names = [n for n in names if not Path(n).name.startswith(".") and "__MACOSX" not in n]
    return [(f"{archive.filename}:{n}", (lambda n=n: archive.read(n))) for n in sorted(names)]


def _read_dicom(name: str, data: bytes) -> Any:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(io.BytesIO(data))
    except InvalidDicomError:
        pass  # no preamble: older files are often raw datasets
    except Exception as exc:  # noqa: BLE001 - corrupt files raise many types
        raise DataError(name, f"cannot be read as DICOM ({exc})") from None
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
    except Exception:  # noqa: BLE001 - not DICOM after all
        return None
    if "PixelData" not in ds or "Rows" not in ds:
        return None
    if "TransferSyntaxUID" not in ds.file_meta:
        from pydicom import uid

        implicit, little = ds.original_encoding
        syntax = uid.ImplicitVRLittleEndian if implicit else uid.ExplicitVRLittleEndian
        ds.file_meta.TransferSyntaxUID = syntax if little else uid.ExplicitVRBigEndian
    return ds


def read_dicom_series(files: Iterable[DicomFile], where: str | Path, rescale: bool = True) -> Volume:
    """Reads one DICOM series into a :class:`Volume` in Hounsfield units.

    Slices are sorted along the slice normal by ImagePositionPatient (falling back to InstanceNumber,
    then the file name); stored values are mapped with RescaleSlope/RescaleIntercept.

    Args:
        files: ``(name, loader)`` pairs (:func:`dicom_files_in_folder`, :func:`dicom_files_in_zip`);
            files that are not DICOM are skipped.
        where: names the series in error messages.
        rescale: apply slope/intercept (False for mask series: stored values, stored dtype).

    Returns:
        ``array`` ``(Z, Y, X)`` (int16 when slope and intercept are integral, else float32) and the
        LPS->RAS affine that :func:`dicom_affine` computes. ``meta`` holds ``positions`` and
        ``instance_numbers`` of the sorted slices.

    Raises:
        DataError: no DICOM image, mixed slice sizes, unevenly spaced slices.
    """
    datasets = []
    for name, load in files:
        ds = _read_dicom(name, load())
        if ds is not None and "PixelData" in ds:
            datasets.append((name, ds))
    if not datasets:
        raise DataError(where, "no DICOM image files found")
    datasets = sort_dicom_slices(datasets)
    shapes = {(int(ds.Rows), int(ds.Columns)) for _, ds in datasets}
    if len(shapes) != 1:
        raise DataError(where, f"slices of different sizes {sorted(shapes)} in one series")
    slopes = [float(getattr(ds, "RescaleSlope", 1) or 1) for _, ds in datasets] if rescale else [1.0]
    intercepts = [float(getattr(ds, "RescaleIntercept", 0) or 0) for _, ds in datasets] if rescale else [0.0]
    integral = all(s == round(s) for s in slopes + intercepts)
    slices = []
    for index, (name, ds) in enumerate(datasets):
        try:
            pixels = ds.pixel_array
        except Exception as exc:  # noqa: BLE001 - missing codecs, truncated data
            raise DataError(name, f"pixel data cannot be decoded ({exc})") from None
        if pixels.ndim != 2:
            raise DataError(name, f"expected a single-frame 2D slice, got pixel data of shape {pixels.shape}")
        slices.append(pixels.astype(np.float32) * slopes[index] + intercepts[index] if rescale else pixels)
    array = np.stack(slices)
    if rescale and integral and array.min() >= -32768 and array.max() <= 32767:
        array = array.astype(np.int16)
    affine = dicom_affine([ds for _, ds in datasets], where)
    meta = {
        "positions": [_position(ds) for _, ds in datasets],
        "instance_numbers": [int(getattr(ds, "InstanceNumber", 0) or 0) for _, ds in datasets],
        "names": [name for name, _ in datasets],
    }
    return Volume(array, affine, Path(str(where)), None, None, meta)


def _orientation(ds: Any) -> np.ndarray:
    values = getattr(ds, "ImageOrientationPatient", None)
    if values is None or len(values) != 6:
        return np.array([1.0, 0, 0, 0, 1.0, 0])
    return np.array([float(v) for v in values])


def _position(ds: Any) -> list[float] | None:
    values = getattr(ds, "ImagePositionPatient", None)
    return None if values is None or len(values) != 3 else [float(v) for v in values]


def sort_dicom_slices(datasets: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Sorts ``(name, dataset)`` pairs by position along the slice normal, else InstanceNumber, else name."""
    if all(_position(ds) is not None for _, ds in datasets):
        iop = _orientation(datasets[0][1])
        normal = np.cross(iop[:3], iop[3:])
        return sorted(datasets, key=lambda item: float(np.dot(_position(item[1]), normal)))
    if all(getattr(ds, "InstanceNumber", None) is not None for _, ds in datasets):
        return sorted(datasets, key=lambda item: int(item[1].InstanceNumber))
    return sorted(datasets, key=lambda item: _natural_key(item[0]))


def _natural_key(name: str) -> list[Any]:
    import re

    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def dicom_affine(datasets: Sequence[Any], where: str | Path = "series") -> np.ndarray:
    """The NIfTI (RAS+) affine of sorted DICOM slices, for the array ``(Z, Y, X)``.transpose(2, 1, 0).

    Column index ``x`` moves along the row direction cosines (ImageOrientationPatient[:3]) by the
    column spacing (PixelSpacing[1]); row index ``y`` along [3:] by PixelSpacing[0]; slice index ``z``
    by the step between first and last ImagePositionPatient.

    Raises:
        DataError: slice positions unevenly spaced (a missing slice).
    """
    first = datasets[0]
    iop = _orientation(first)
    spacing = getattr(first, "PixelSpacing", None) or [1.0, 1.0]
    row_spacing, col_spacing = float(spacing[0]), float(spacing[1])
    normal = np.cross(iop[:3], iop[3:])
    positions = [_position(ds) for ds in datasets]
    if all(p is not None for p in positions):
        points = np.array(positions, dtype=np.float64)
        origin = points[0]
        if len(points) > 1:
            step = (points[-1] - points[0]) / (len(points) - 1)
            gaps = np.linalg.norm(np.diff(points, axis=0), axis=1)
            if gaps.min() <= 0 or (gaps.max() - gaps.min()) > 0.1 * np.linalg.norm(step):
                raise DataError(
                    where, f"slice positions are not evenly spaced (gaps {gaps.min():.3g}..{gaps.max():.3g} mm)"
                )
        else:
            step = normal * float(getattr(first, "SliceThickness", 1.0) or 1.0)
    else:
        origin = np.zeros(3)
        thickness = float(getattr(first, "SpacingBetweenSlices", None) or getattr(first, "SliceThickness", 1.0) or 1.0)
        step = normal * thickness
    lps = np.eye(4)
    lps[:3, 0] = iop[:3] * col_spacing
    lps[:3, 1] = iop[3:] * row_spacing
    lps[:3, 2] = step
    lps[:3, 3] = origin
    return LPS_TO_RAS @ lps


def load_dicom_series(path: str | Path) -> Volume:
    """Reads a DICOM series from a folder, or from a zip holding one (e.g. ``PATIENT_DICOM.zip``).

    Raises:
        DataError: missing path, no DICOM images, inconsistent slices.
    """
    path = Path(path)
    if path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return read_dicom_series(dicom_files_in_zip(archive, ""), path)
    return read_dicom_series(dicom_files_in_folder(path), path)


def write_prediction_for_dicom(labels_zyx: np.ndarray, series: Volume | str | Path, out_path: str | Path) -> Path:
    """Writes ``(Z, Y, X)`` labels predicted on a DICOM series as NIfTI aligned to the series.

    The affine is the one :func:`dicom_affine` gives (the same as ``medseg convert`` writes).

    Raises:
        DataError: labels whose shape differs from the series.
    """
    volume = series if isinstance(series, Volume) else load_dicom_series(series)
    if tuple(labels_zyx.shape) != tuple(volume.array.shape[:3]):
        raise DataError(volume.source or ".", f"labels {labels_zyx.shape} differ from the series {volume.array.shape}")
    return save_nifti(labels_zyx.transpose(2, 1, 0), volume.affine, out_path, np.uint8)
