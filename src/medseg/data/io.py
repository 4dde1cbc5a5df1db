"""Reading and writing 2D image files with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from medseg.errors import DataError
from medseg.io import atomic_write_bytes

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def read_image(path: str | Path, color: bool = False) -> np.ndarray:
    """Reads an image file.

    Args:
        path: PNG, JPEG, BMP or TIFF file.
        color: return ``(H, W, 3)`` RGB; otherwise ``(H, W)`` grey (colour files are converted).

    Returns:
        ``uint8`` (or ``uint16``) array.

    Raises:
        DataError: the file is missing, empty or not a decodable image.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    if path.stat().st_size == 0:
        raise DataError(path, "file is empty")
    return decode_image(np.fromfile(path, dtype=np.uint8).tobytes(), path, color)


def decode_image(data: bytes, where: str | Path, color: bool = False) -> np.ndarray:
    """Decodes the bytes of a PNG, JPEG, BMP or TIFF file as :func:`read_image` does.

    Args:
        data: the file's content.
        where: what to name in errors (a path, or an upload's name).
        color: ``(H, W, 3)`` RGB; otherwise ``(H, W)`` grey.

    Raises:
        DataError: not a decodable image.
    """
    array = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED) if data else None
    if array is None and data[:4] in (b"II*\x00", b"MM\x00*"):
        array = _read_tiff(data)
    if array is None:
        raise DataError(where, "cannot be decoded as an image (corrupt or unsupported format)")
    if array.ndim == 3 and array.shape[2] == 4:
        array = cv2.cvtColor(array, cv2.COLOR_BGRA2BGR)
    if color:
        if array.ndim == 2:
            return np.repeat(array[:, :, None], 3, axis=2)
        return cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
    if array.ndim == 3:
        return cv2.cvtColor(array, cv2.COLOR_BGR2GRAY)
    return array


def _read_tiff(data: bytes) -> np.ndarray | None:
    try:
        import io

        import tifffile

        array = tifffile.imread(io.BytesIO(data))
    except Exception:  # noqa: BLE001 - any failure means "not decodable"
        return None
    if array.ndim == 3 and array.shape[2] in (3, 4):
        return cv2.cvtColor(array[:, :, :3], cv2.COLOR_RGB2BGR)
    return array


def read_binary_mask(path: str | Path, threshold: int = 127) -> np.ndarray:
    """Reads a mask image and binarises it (``> threshold``); JPEG masks need the threshold.

    Returns:
        ``(H, W)`` ``uint8`` array of 0 and 1.
    """
    return (read_image(path) > threshold).astype(np.uint8)


def write_png(path: str | Path, array: np.ndarray) -> None:
    """Writes ``array`` as PNG atomically (a temporary file renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", array)
    if not ok:
        raise DataError(path, "could not encode image as PNG")
    atomic_write_bytes(path, encoded.tobytes())


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name.

    Raises:
        DataError: the folder does not exist or holds no image.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "folder not found")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DataError(folder, f"no image files ({', '.join(IMAGE_SUFFIXES)}) in folder")
    return files
