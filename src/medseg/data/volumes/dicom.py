"""DICOM series: files from a folder or zip, slices sorted and checked, geometry as a RAS affine."""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medseg.data.io import _MAX_PIXELS
from medseg.data.volumes.base import LPS_TO_RAS, Volume, check_finite, check_voxels
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


MAX_ZIP_MEMBER = 256 * 2**20  # bytes one zip member may inflate to (a CT slice is ~0.5 MB)
MAX_ZIP_RATIO = 200  # inflated / compressed size of one member; a zip bomb reaches 1000


def dicom_files_in_zip(archive: zipfile.ZipFile, prefix: str) -> list[DicomFile]:
    """Files of ``archive`` whose names start with ``prefix`` (a folder inside the zip, ending in ``/``).

    Raises:
        DataError: a member declaring more than :data:`MAX_ZIP_MEMBER` bytes or a compression ratio
            beyond :data:`MAX_ZIP_RATIO` (checked from the zip's directory, before inflating anything).
    """
    members = [i for i in archive.infolist() if i.filename.startswith(prefix) and not i.is_dir()]
    members = [i for i in members if not Path(i.filename).name.startswith(".") and "__MACOSX" not in i.filename]
    for info in members:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > MAX_ZIP_MEMBER or (info.file_size > 2**20 and ratio > MAX_ZIP_RATIO):
            raise DataError(
                f"{archive.filename}:{info.filename}",
                f"zip member inflates to {info.file_size} bytes ({ratio:.0f}x its compressed size); limits "
                f"{MAX_ZIP_MEMBER} bytes and {MAX_ZIP_RATIO}x (medseg.data.volumes.dicom.MAX_ZIP_MEMBER, "
                "MAX_ZIP_RATIO); extract it yourself if it is genuine",
            )
    return [
        (f"{archive.filename}:{i.filename}", (lambda n=i.filename: archive.read(n)))
        for i in sorted(members, key=lambda i: i.filename)
    ]


def _read_dicom(name: str, data: bytes) -> Any:
    """The dataset of one file; None for a file that is not a DICOM image (notes, DICOMDIR, reports).

    Raises:
        DataError: a DICOM image file that is damaged or cut short (no or too little pixel data).
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except InvalidDicomError:
        ds = None  # no preamble: older files are often raw datasets
    except Exception as exc:  # noqa: BLE001 - corrupt files raise many types
        raise DataError(name, f"cannot be read as DICOM ({exc})") from None
    if ds is not None:
        if "PixelData" not in ds and ("Rows" in ds or _is_image_storage(ds)):
            raise DataError(name, "truncated or damaged DICOM image: no pixel data")
        return ds
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
    except Exception:  # noqa: BLE001 - not DICOM after all
        return None
    if "Rows" not in ds:
        return None
    if "PixelData" not in ds:
        raise DataError(name, "truncated or damaged DICOM image: no pixel data")
    if "TransferSyntaxUID" not in ds.file_meta:
        from pydicom import uid

        implicit, little = ds.original_encoding
        syntax = uid.ImplicitVRLittleEndian if implicit else uid.ExplicitVRLittleEndian
        ds.file_meta.TransferSyntaxUID = syntax if little else uid.ExplicitVRBigEndian
    return ds


def _is_image_storage(ds: Any) -> bool:
    """True when the file declares an image SOP class (CT Image Storage, MR Image Storage, ..)."""
    meta = getattr(ds, "file_meta", None)
    sop = (meta.get("MediaStorageSOPClassUID") if meta is not None else None) or ds.get("SOPClassUID")
    return sop is not None and "Image Storage" in getattr(sop, "name", "")


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
        DataError: no DICOM image (names ``where``), a truncated or undecodable slice (names the file),
            several series, mixed slice sizes, a missing or duplicated slice position, NaN/Inf values.
    """
    datasets = []
    for name, load in files:
        ds = _read_dicom(name, load())
        if ds is not None and "PixelData" in ds:
            datasets.append((name, ds))
    kind = "zip archive" if str(where).lower().endswith(".zip") else "folder"
    if not datasets:
        raise DataError(where, f"no DICOM image files in this {kind}")
    series = {str(ds.get("SeriesInstanceUID", "")) for _, ds in datasets}
    if len(series) > 1:
        raise DataError(where, f"{len(series)} DICOM series mixed in one {kind}; give one series")
    datasets = sort_dicom_slices(datasets)
    check_slice_positions(datasets, where)
    shapes = {(int(ds.Rows), int(ds.Columns)) for _, ds in datasets}
    if len(shapes) != 1:
        raise DataError(where, f"slices of different sizes {sorted(shapes)} in one series")
    rows, columns = shapes.pop()
    pixel_cap = _MAX_PIXELS.get()
    if rows * columns > pixel_cap:  # from the header, before any slice is decoded
        raise DataError(
            datasets[0][0],
            f"slice of {columns}x{rows} pixels exceeds the limit of {pixel_cap} pixels (raise data.max_pixels)",
        )
    check_voxels((len(datasets), rows, columns), where)
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
    check_finite(array, where)
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
    iop = np.array([float(v) for v in values])
    row, col = iop[:3], iop[3:]
    if not np.isfinite(iop).all() or min(np.linalg.norm(row), np.linalg.norm(col)) < 1e-3:
        raise DataError(
            getattr(ds, "filename", None) or "DICOM series",
            f"ImageOrientationPatient {list(values)} holds no direction (a zero or NaN vector): fix the header",
        )
    if np.linalg.norm(np.cross(row, col)) < 1e-3:
        raise DataError(
            getattr(ds, "filename", None) or "DICOM series",
            f"ImageOrientationPatient {list(values)}: row and column directions are parallel; fix the header",
        )
    return iop


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


def check_slice_positions(datasets: list[tuple[str, Any]], where: str | Path) -> None:
    """Checks sorted ``(name, dataset)`` slices for duplicated positions and missing slices.

    Positions are ImagePositionPatient projected on the slice normal; series without positions are
    not checked here.

    Raises:
        DataError: two slices at one position (both files named), or a gap of more than 1.5 times
            the usual spacing (the files either side named).
    """
    if len(datasets) < 2 or any(_position(ds) is None for _, ds in datasets):
        return
    iop = _orientation(datasets[0][1])
    normal = np.cross(iop[:3], iop[3:])
    along = np.array([float(np.dot(_position(ds), normal)) for _, ds in datasets])
    steps = np.diff(along)
    spacing = float(np.median(steps))
    for k, step in enumerate(steps):
        if step <= max(1e-3, 1e-3 * abs(spacing)):
            raise DataError(
                where,
                f"duplicated slice position {along[k]:.2f} mm: {_short(datasets[k][0], where)} and "
                f"{_short(datasets[k + 1][0], where)}",
            )
    for k, step in enumerate(steps):
        if step > 1.5 * spacing:
            missing = int(round(step / spacing)) - 1
            raise DataError(
                where,
                f"missing slice: {max(missing, 1)} slice(s) absent between {_short(datasets[k][0], where)} "
                f"({along[k]:.2f} mm) and {_short(datasets[k + 1][0], where)} ({along[k + 1]:.2f} mm), "
                f"slices {spacing:.3g} mm apart elsewhere",
            )


def _short(name: str, where: str | Path) -> str:
    """A file's name relative to its series (``where``), as errors name it."""
    prefix = str(where)
    for sep in (":", "/", "\\"):
        if name.startswith(prefix + sep):
            return name[len(prefix) + 1 :]
    return name


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
    from medseg.data.checks import check_spacing

    spacing = getattr(first, "PixelSpacing", None) or [1.0, 1.0]
    if len(spacing) != 2:
        raise DataError(where, f"PixelSpacing {list(spacing)} must hold two values (row, column) in mm")
    row_spacing, col_spacing = check_spacing(spacing, where)
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
        try:
            with zipfile.ZipFile(path) as archive:
                return read_dicom_series(dicom_files_in_zip(archive, ""), path)
        except (
            zipfile.BadZipFile,
            zipfile.LargeZipFile,
            RuntimeError,
            NotImplementedError,
            EOFError,
            OSError,
            zlib.error,
        ) as exc:
            problem = " ".join(str(exc).split())[:160]
            raise DataError(
                path, f"zip cannot be extracted ({problem}): unpack it or give an unencrypted zip"
            ) from None
    return read_dicom_series(dicom_files_in_folder(path), path)


def read_series_datasets(path: str | Path) -> list[Any]:
    """The pydicom datasets of a series folder or zip, in the slice order of :func:`load_dicom_series`.

    Raises:
        DataError: as :func:`read_dicom_series`.
    """
    path = Path(path)
    if path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            files = dicom_files_in_zip(archive, "")
            loaded = [(name, _read_dicom(name, load())) for name, load in files]
    else:
        loaded = [(name, _read_dicom(name, load())) for name, load in dicom_files_in_folder(path)]
    datasets = [(name, ds) for name, ds in loaded if ds is not None and "PixelData" in ds]
    if not datasets:
        raise DataError(path, "no DICOM image files")
    return [ds for _, ds in sort_dicom_slices(datasets)]


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
