"""NIfTI volumes: reading (reoriented to display order), writing, label volumes written back aligned.

The one place NIfTI files are opened: :func:`open_nifti` checks the header (readable, within
``data.max_voxels``) before any data is read, and :func:`load_nifti` adds the checks of the data
(stored voxel size, affine, dimensions, at least one voxel, finite values). The readers of NIfTI
layouts (:mod:`medseg.data.readers.nifti`, :mod:`medseg.data.readers.nnunet`) and prediction use them.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from medseg.data.volumes.base import DISPLAY_AXCODES, Volume, check_finite, check_voxels
from medseg.errors import DataError

NIFTI_SUFFIXES = (".nii", ".nii.gz")


def is_nifti(path: str | Path) -> bool:
    return str(path).lower().endswith(NIFTI_SUFFIXES)


def nifti_stem(path: str | Path) -> str:
    """``volume-3.nii.gz`` -> ``volume-3``."""
    name = Path(path).name
    for suffix in (".nii.gz", ".nii"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(path).stem


def open_nifti(path: str | Path) -> nib.Nifti1Image:
    """The NIfTI image of ``path`` with its header checked (voxel count within the limit); no data is read.

    Raises:
        DataError: a missing or unreadable file, or more voxels than ``data.max_voxels``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "NIfTI file not found")
    try:
        image = nib.load(str(path))
    except Exception as exc:  # noqa: BLE001 - nibabel raises many types for corrupt files
        raise DataError(path, f"cannot be read as NIfTI ({exc})") from None
    check_voxels(image.shape, path)  # from the header, before any data is read
    return image


def header_voxel_size(head: bytes) -> tuple[float, float, float] | None:
    """``pixdim[1:4]`` as stored in the first bytes of a NIfTI-1/2 file, before nibabel replaces zeros by 1.

    Returns:
        The three voxel sizes, or None when ``head`` is not (enough of) a NIfTI-1 or NIfTI-2 header.
    """
    import struct

    try:
        for order in "<>":
            size = struct.unpack(f"{order}i", head[:4])[0]
            if size == 348:
                return struct.unpack(f"{order}3f", head[80:92])
            if size == 540:
                return struct.unpack(f"{order}3d", head[112:136])
    except struct.error:
        return None
    return None


def stored_voxel_size(path: Path) -> tuple[float, float, float] | None:
    """:func:`header_voxel_size` of a ``.nii`` or ``.nii.gz`` file (None: unreadable)."""
    import gzip

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            head = handle.read(540)
    except (OSError, EOFError, zlib.error):
        return None
    return header_voxel_size(head)


def load_nifti(
    path: str | Path,
    orientation: Sequence[str] | str | None = DISPLAY_AXCODES,
    labels: bool = False,
    channels: bool = False,
) -> Volume:
    """Reads a NIfTI volume as axial slices.

    Args:
        path: ``.nii`` or ``.nii.gz``; 3D (a 4D file with one channel counts as 3D).
        orientation: axis codes to reorient ``(x, y, z)`` to (default ``L, P, S``: slices as a DICOM
            viewer shows them); None keeps the stored axes.
        labels: read as uint8 labels (0..255) instead of intensities.
        channels: also accept 4D files with channels last (MSD multi-modal images).

    Returns:
        A :class:`Volume` with ``array`` ``(Z, Y, X)`` (or ``(Z, Y, X, C)`` for 4D files). Integer data
        in the int16 range (after scaling) stay int16 to save memory; other data become float32.

    Raises:
        DataError: missing or unreadable file, a 2D (or 4D where not ``channels``) image, an empty
            volume, a zero or non-finite stored voxel size, a sheared or singular affine, NaN or
            infinite voxels.
    """
    from medseg.data.checks import check_affine

    path = Path(path)
    image = open_nifti(path)
    check_affine(image.affine, path, stored_voxel_size(path))
    shape = tuple(int(n) for n in image.shape)
    wanted = "a 3D volume (or 4D with channels last)" if channels else "a 3D volume"
    if len(shape) < 3 or len(shape) > 4 or (len(shape) == 4 and shape[3] > 1 and not channels):
        raise DataError(path, f"expected {wanted}, got a {len(shape)}D image of shape {shape}")
    if 0 in shape[:3]:
        raise DataError(path, f"expected a 3D volume with voxels, got shape {shape}")
    try:
        data = _scaled_data(image)
    except (OSError, EOFError, ValueError, MemoryError, zlib.error) as exc:
        raise DataError(path, f"NIfTI data truncated or corrupt ({type(exc).__name__}: {str(exc)[:120]})") from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    check_finite(data, path)
    data = _compact(data, labels, path)
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
    reference = open_nifti(reference_nifti_path)
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
