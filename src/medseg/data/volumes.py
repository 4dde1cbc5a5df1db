"""3D volumes: NIfTI and DICOM series in, axial 2D slices out, label volumes written back aligned.

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

import io
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from medseg.data.case import Case
from medseg.errors import DataError

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
DISPLAY_AXCODES = ("L", "P", "S")
NIFTI_SUFFIXES = (".nii", ".nii.gz")


@dataclass
class Volume:
    """A 3D image as axial slices.

    Attributes:
        array: ``(Z, Y, X)`` intensities (Hounsfield units for CT) or labels.
        affine: ``(4, 4)`` voxel ``(x, y, z)`` -> RAS mm for ``array.transpose(2, 1, 0)``.
        source: the file or folder it was read from.
        to_source: nibabel orientation transform from this array's ``(x, y, z)`` back to the file's
            stored axes (None when they are the same).
        source_shape: the stored array's shape (``(x, y, z)`` order for NIfTI).
    """

    array: np.ndarray
    affine: np.ndarray
    source: Path | None = None
    to_source: np.ndarray | None = None
    source_shape: tuple[int, ...] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def spacing_zyx(self) -> tuple[float, float, float]:
        """Voxel size in mm along ``(Z, Y, X)``."""
        zooms = np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))
        return float(zooms[2]), float(zooms[1]), float(zooms[0])

    @property
    def spacing_mm(self) -> tuple[float, float]:
        """In-plane ``(row, col)`` pixel spacing of a slice."""
        return self.spacing_zyx[1], self.spacing_zyx[2]

    @property
    def voxel_ml(self) -> float:
        """Volume of one voxel in millilitres."""
        z, y, x = self.spacing_zyx
        return z * y * x / 1000.0

    def to_xyz(self) -> np.ndarray:
        """The array in NIfTI ``(x, y, z)`` order matching :attr:`affine`."""
        return self.array.transpose(2, 1, 0)


# --------------------------------------------------------------------------------------------- NIfTI


def is_nifti(path: str | Path) -> bool:
    return str(path).lower().endswith(NIFTI_SUFFIXES)


def nifti_stem(path: str | Path) -> str:
    """``volume-3.nii.gz`` -> ``volume-3``."""
    name = Path(path).name
    for suffix in (".nii.gz", ".nii"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(path).stem


def _load_nifti_image(path: Path) -> nib.Nifti1Image:
    if not path.is_file():
        raise DataError(path, "NIfTI file not found")
    try:
        return nib.load(str(path))
    except Exception as exc:  # noqa: BLE001 - nibabel raises many types for corrupt files
        raise DataError(path, f"cannot be read as NIfTI ({exc})") from None


def load_nifti(
    path: str | Path, orientation: Sequence[str] | str | None = DISPLAY_AXCODES, labels: bool = False
) -> Volume:
    """Reads a NIfTI volume as axial slices.

    Args:
        path: ``.nii`` or ``.nii.gz``; 3D, or 4D with channels last (MSD multi-modal images).
        orientation: axis codes to reorient ``(x, y, z)`` to (default ``L, P, S``: slices as a DICOM
            viewer shows them); None keeps the stored axes.
        labels: read as uint8 labels (0..255) instead of intensities.

    Returns:
        A :class:`Volume` with ``array`` ``(Z, Y, X)`` (or ``(Z, Y, X, C)`` for 4D files). Integer data
        in the int16 range (after scaling) stay int16 to save memory; other data become float32.

    Raises:
        DataError: missing or unreadable file, or not 3D/4D.
    """
    path = Path(path)
    image = _load_nifti_image(path)
    if image.ndim not in (3, 4):
        raise DataError(path, f"expected a 3D volume (or 4D with channels), got shape {image.shape}")
    data = _compact(_scaled_data(image), labels, path)
    affine = image.affine.copy()
    to_source = None
    if orientation is not None:
        codes = tuple(orientation)
        source_ornt = nib.io_orientation(affine)
        target_ornt = nib.orientations.axcodes2ornt(codes)
        transform = nib.orientations.ornt_transform(source_ornt, target_ornt)
        if not np.array_equal(transform, [[0, 1], [1, 1], [2, 1]]):
            data = nib.orientations.apply_orientation(data, transform)
            affine = affine @ nib.orientations.inv_ornt_aff(transform, image.shape[:3])
            to_source = nib.orientations.ornt_transform(target_ornt, source_ornt)
    array = np.ascontiguousarray(np.moveaxis(data, (0, 1, 2), (2, 1, 0)))
    return Volume(array, affine, path, to_source, tuple(image.shape), {"header": image.header})


def _scaled_data(image: nib.Nifti1Image) -> np.ndarray:
    """The stored values with the header's slope/intercept applied, without nibabel's float64 volume."""
    proxy = image.dataobj
    if not hasattr(proxy, "get_unscaled"):
        return np.asanyarray(proxy)
    raw = np.asanyarray(proxy.get_unscaled())
    slope, inter = float(proxy.slope), float(proxy.inter)
    if slope == 1 and inter == 0:
        return raw
    if np.issubdtype(raw.dtype, np.integer) and slope.is_integer() and inter.is_integer():
        return raw.astype(np.int32) * int(slope) + int(inter)
    return raw.astype(np.float32) * np.float32(slope) + np.float32(inter)


def _compact(data: np.ndarray, labels: bool, path: Path) -> np.ndarray:
    if labels:
        rounded = np.rint(data)
        if rounded.min() < 0 or rounded.max() > 255:
            raise DataError(path, f"label values {rounded.min():g}..{rounded.max():g} outside 0..255")
        return rounded.astype(np.uint8)
    if np.issubdtype(data.dtype, np.integer) and data.min() >= -32768 and data.max() <= 32767:
        return data.astype(np.int16, copy=False)
    if np.issubdtype(data.dtype, np.floating):
        rounded = np.rint(data)
        if np.array_equal(rounded, data) and data.min() >= -32768 and data.max() <= 32767:
            return rounded.astype(np.int16)
    return data.astype(np.float32, copy=False)


def slices_to_source(labels_zyx: np.ndarray, volume: Volume) -> np.ndarray:
    """Maps ``(Z, Y, X)`` labels of a :class:`Volume` back to the stored ``(x, y, z)`` array of its file."""
    data = labels_zyx.transpose(2, 1, 0)
    if volume.to_source is not None:
        data = nib.orientations.apply_orientation(data, volume.to_source)
    return np.ascontiguousarray(data)


def write_prediction_nifti(
    labels: np.ndarray,
    reference_nifti_path: str | Path,
    out_path: str | Path,
    order: str = "auto",
    orientation: Sequence[str] | str | None = DISPLAY_AXCODES,
) -> Path:
    """Writes a label volume with the reference NIfTI's affine and header.

    Args:
        labels: either ``(x, y, z)`` in the reference file's stored order, or ``(Z, Y, X)`` slices as
            :func:`load_nifti` (with the same ``orientation``) returned them.
        reference_nifti_path: the image the labels were predicted on.
        out_path: ``.nii.gz`` or ``.nii``.
        order: ``"xyz"``, ``"zyx"`` or ``"auto"`` (decided by the shape; a shape that fits both is an error).

    Returns:
        ``out_path``.

    Raises:
        DataError: unreadable reference, or labels whose shape fits neither order.
        ValueError: unknown ``order``, or an ambiguous shape under ``"auto"``.
    """
    reference_nifti_path = Path(reference_nifti_path)
    reference = _load_nifti_image(reference_nifti_path)
    volume_shape = tuple(reference.shape[:3])
    if order not in ("auto", "xyz", "zyx"):
        raise ValueError(f"order must be auto, xyz or zyx, got {order!r}")
    zyx_shape = volume_shape
    to_source = None
    if orientation is not None:
        transform = nib.orientations.ornt_transform(
            nib.io_orientation(reference.affine), nib.orientations.axcodes2ornt(tuple(orientation))
        )
        zyx_shape = tuple(int(volume_shape[int(axis)]) for axis in transform[:, 0].argsort())
        to_source = nib.orientations.ornt_transform(
            nib.orientations.axcodes2ornt(tuple(orientation)), nib.io_orientation(reference.affine)
        )
    zyx_shape = zyx_shape[::-1]
    fits_xyz, fits_zyx = tuple(labels.shape) == volume_shape, tuple(labels.shape) == zyx_shape
    if order == "auto":
        if fits_xyz and fits_zyx:
            raise ValueError(f"labels of shape {labels.shape} fit both xyz and zyx order: pass order='xyz' or 'zyx'")
        order = "xyz" if fits_xyz else "zyx"
    if order == "xyz" and not fits_xyz:
        raise DataError(reference_nifti_path, f"labels of shape {labels.shape} differ from the volume {volume_shape}")
    if order == "zyx" and not fits_zyx:
        raise DataError(
            reference_nifti_path, f"labels of shape {labels.shape} are not its {zyx_shape} (Z, Y, X) slices"
        )
    data = labels
    if order == "zyx":
        data = labels.transpose(2, 1, 0)
        if to_source is not None:
            data = nib.orientations.apply_orientation(data, to_source)
    header = reference.header.copy()
    image = nib.Nifti1Image(np.ascontiguousarray(data).astype(np.uint8), reference.affine, header)
    image.set_data_dtype(np.uint8)
    image.header.set_slope_inter(1.0, 0.0)
    image.header["cal_min"], image.header["cal_max"] = 0, float(data.max()) if data.size else 0
    return _save_nifti(image, out_path)


def save_nifti(array_xyz: np.ndarray, affine: np.ndarray, out_path: str | Path, dtype: Any = None) -> Path:
    """Writes an ``(x, y, z)`` array with ``affine`` (sform and qform, scanner coordinates).

    Returns:
        ``out_path``.
    """
    data = np.ascontiguousarray(array_xyz if dtype is None else array_xyz.astype(dtype))
    image = nib.Nifti1Image(data, affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    image.header.set_xyzt_units("mm")
    return _save_nifti(image, out_path)


def _save_nifti(image: nib.Nifti1Image, out_path: str | Path) -> Path:
    out_path = Path(out_path)
    if not is_nifti(out_path):
        raise ValueError(f"output {out_path} must end in .nii or .nii.gz")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp{''.join(out_path.suffixes)}")
    try:
        nib.save(image, str(tmp))
        tmp.replace(out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return out_path


# --------------------------------------------------------------------------------------------- DICOM

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


# ------------------------------------------------------------------------------------------ predict


def load_volume(path: str | Path) -> Volume:
    """A NIfTI file, a DICOM folder or a zip of a DICOM series."""
    return load_nifti(path) if is_nifti(path) else load_dicom_series(path)


# ---------------------------------------------------------------------------------- slices -> cases


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
