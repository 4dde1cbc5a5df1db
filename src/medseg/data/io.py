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
    data = np.fromfile(path, dtype=np.uint8)
    array = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if array is None and path.suffix.lower() in (".tif", ".tiff"):
        array = _read_tiff(path)
    if array is None:
        raise DataError(path, "cannot be decoded as an image (corrupt or unsupported format)")
    if array.ndim == 3 and array.shape[2] == 4:
        array = cv2.cvtColor(array, cv2.COLOR_BGRA2BGR)
    if color:
        if array.ndim == 2:
            return np.repeat(array[:, :, None], 3, axis=2)
        return cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
    if array.ndim == 3:
        return cv2.cvtColor(array, cv2.COLOR_BGR2GRAY)
    return array


def _read_tiff(path: Path) -> np.ndarray | None:
    try:
        import tifffile

        array = tifffile.imread(path)
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
