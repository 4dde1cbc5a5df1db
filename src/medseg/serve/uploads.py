"""Uploaded bytes -> a validated image or volume, or an :class:`UploadError` saying what is wrong.

Nothing here touches the file system: uploads are decoded from memory. The format is recognised by
its content (magic bytes), never by the name or the declared content type.
"""

from __future__ import annotations

import gzip
import io
import zlib
from dataclasses import dataclass

import numpy as np

from medseg.data.volumes.base import DEFAULT_MAX_VOXELS
from medseg.errors import DataError, MedsegError

SUPPORTED = "PNG, JPEG, TIFF, DICOM (.dcm) or NIfTI (.nii, .nii.gz)"
MAX_PIXELS = 64_000_000  # a 2D image's width x height (decompression bombs stop here)
MAX_VOXELS = DEFAULT_MAX_VOXELS  # the same cap as predict, train and check (data.max_voxels)


class UploadError(MedsegError):
    """A bad upload: HTTP ``status`` (400, or 413 when too large) with a one-line message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Upload:
    """A decoded upload.

    Attributes:
        format: ``PNG``, ``JPEG``, ``TIFF``, ``DICOM`` or ``NIfTI``.
        image: 2D uploads: ``(H, W)`` grey or ``(H, W, 3)`` RGB array.
        nifti: NIfTI uploads: the uncompressed ``.nii`` bytes, checked to hold a 3D volume.
        pixel_size_mm: in-plane pixel size carried by the file (DICOM ``PixelSpacing``), else None.
    """

    format: str
    image: np.ndarray | None = None
    nifti: bytes | None = None
    pixel_size_mm: float | None = None

    @property
    def is_volume(self) -> bool:
        return self.nifti is not None


def sniff(data: bytes) -> str | None:
    """The format of ``data`` from its first bytes, or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if data[128:132] == b"DICM":
        return "DICOM"
    if data.startswith(b"\x1f\x8b"):
        return "gzip"
    if _nifti_magic(data):
        return "NIfTI"
    return None


def _nifti_magic(data: bytes) -> bool:
    return data[344:348] in (b"n+1\x00", b"ni1\x00") or data[4:8] == b"n+2\x00"


def decode_upload(data: bytes, name: str, color: bool, max_bytes: int) -> Upload:
    """Validates and decodes an upload.

    Args:
        data: the uploaded bytes.
        name: the client's file name, used in messages only.
        color: decode 2D images as ``(H, W, 3)`` RGB (3-channel models), else ``(H, W)`` grey.
        max_bytes: size cap (also for a gzip-compressed NIfTI once decompressed, times four).

    Raises:
        UploadError: empty, too large (413), unknown type, truncated or corrupt.
    """
    label = name or "upload"
    if not data:
        raise UploadError(f"{label}: the file is empty")
    if len(data) > max_bytes:
        raise UploadError(f"{label}: {len(data)} bytes is over the {max_bytes} byte upload limit", 413)
    kind = sniff(data)
    if kind == "gzip":
        data = _gunzip(data, label, 4 * max_bytes)
        if not _nifti_magic(data):
            raise UploadError(f"{label}: a gzip file that holds no NIfTI volume; upload {SUPPORTED}")
        kind = "NIfTI"
    if kind is None:
        start = data[:8].hex(" ")
        raise UploadError(f"{label}: not a {SUPPORTED} file (it starts with bytes {start})")
    if kind == "NIfTI":
        return Upload(kind, nifti=_check_nifti(data, label))
    if kind == "DICOM":
        image, pixel_size = _decode_dicom(data, label, color)
        return Upload(kind, image=image, pixel_size_mm=pixel_size)
    return Upload(kind, image=_decode_raster(data, kind, label, color))


def _gunzip(data: bytes, label: str, limit: int) -> bytes:
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise UploadError(f"{label}: corrupt gzip data ({exc})") from None
    if len(out) > limit:
        raise UploadError(f"{label}: decompresses to more than {limit} bytes", 413)
    if not inflater.eof:
        raise UploadError(f"{label}: truncated gzip file (the compressed stream ends early)")
    return out


def _decode_raster(data: bytes, kind: str, label: str, color: bool) -> np.ndarray:
    from PIL import Image

    from medseg.data.io import decode_image

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise UploadError(f"{label}: {width}x{height} pixels is over the {MAX_PIXELS} pixel limit", 413)
            image.load()  # decodes every byte: a truncated or corrupt file fails here
    except UploadError:
        raise
    except Image.DecompressionBombError:
        raise UploadError(f"{label}: image too large to decode safely", 413) from None
    except Exception as exc:  # noqa: BLE001 - Pillow raises OSError, SyntaxError, ValueError for bad files
        raise UploadError(f"{label}: truncated or corrupt {kind} file ({exc})") from None
    if min(width, height) < 2:
        raise UploadError(f"{label}: a {width}x{height} image is too small to segment")
    try:
        return decode_image(data, label, color)
    except DataError as exc:
        raise UploadError(str(exc)) from None


def _decode_dicom(data: bytes, label: str, color: bool) -> tuple[np.ndarray, float | None]:
    import pydicom
    from pydicom.pixels import apply_modality_lut

    try:
        dataset = pydicom.dcmread(io.BytesIO(data))
        pixels = dataset.pixel_array
        frames = int(getattr(dataset, "NumberOfFrames", 1) or 1)
        samples = int(getattr(dataset, "SamplesPerPixel", 1) or 1)
    except Exception as exc:  # noqa: BLE001 - pydicom raises many kinds for truncated or odd files
        raise UploadError(f"{label}: truncated or corrupt DICOM file, or one without pixel data ({exc})") from None
    if frames > 1:
        raise UploadError(f"{label}: a {frames}-frame DICOM; upload one slice, or the series as a NIfTI volume")
    if pixels.ndim not in (2, 3) or min(pixels.shape[:2]) < 2:
        raise UploadError(f"{label}: DICOM pixel data of shape {pixels.shape} is not one 2D image")
    if pixels.shape[0] * pixels.shape[1] > MAX_PIXELS:
        raise UploadError(f"{label}: DICOM image over the {MAX_PIXELS} pixel limit", 413)
    from medseg.data.checks import check_spacing
    from medseg.data.inputs import check_rescale

    try:
        if samples == 1:
            check_rescale(dataset, label)
        spacing = getattr(dataset, "PixelSpacing", None)
        if spacing is not None:
            if len(spacing) != 2:
                raise DataError(label, f"PixelSpacing {list(spacing)} must hold two values (row, column) in mm")
            check_spacing(spacing, label)
    except DataError as error:
        raise UploadError(str(error)) from None
    image = np.asarray(apply_modality_lut(pixels, dataset), dtype=np.float32) if samples == 1 else pixels
    if image.ndim == 2 and color:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.ndim == 3 and not color:
        image = image.astype(np.float32).mean(axis=2)
    spacing = getattr(dataset, "PixelSpacing", None)
    pixel_size = None
    if spacing is not None and len(spacing) == 2:
        row, col = float(spacing[0]), float(spacing[1])
        pixel_size = float(np.sqrt(row * col)) if row > 0 and col > 0 else None
    return image, pixel_size


def _check_nifti(data: bytes, label: str) -> bytes:
    import nibabel as nib

    try:
        image = nib.Nifti1Image.from_bytes(data) if data[4:8] != b"n+2\x00" else nib.Nifti2Image.from_bytes(data)
        shape = image.shape
    except Exception as exc:  # noqa: BLE001 - nibabel raises many kinds for a bad header
        raise UploadError(f"{label}: corrupt NIfTI header ({exc})") from None
    from medseg.data.checks import check_affine
    from medseg.data.volumes.nifti import header_voxel_size

    try:
        check_affine(image.affine, label, header_voxel_size(data))
    except DataError as error:
        raise UploadError(str(error)) from None
    volume_shape = shape[:3] if len(shape) == 4 and shape[3] == 1 else shape
    if len(volume_shape) != 3 or min(volume_shape) < 1:
        raise UploadError(f"{label}: NIfTI of shape {tuple(shape)} is not a 3D volume")
    if int(np.prod(volume_shape)) > MAX_VOXELS:
        raise UploadError(f"{label}: NIfTI volume over the {MAX_VOXELS} voxel limit", 413)
    try:
        image.dataobj[..., -1]  # the last slice: a truncated file has no data there
    except Exception as exc:  # noqa: BLE001
        raise UploadError(f"{label}: truncated NIfTI file ({exc})") from None
    return data


def gzip_bytes(data: bytes) -> bytes:
    """``data`` gzip-compressed (for a ``.nii.gz`` download)."""
    return gzip.compress(data, compresslevel=6)
