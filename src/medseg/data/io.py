"""Image files: reading, decoding, encoding and writing 2D images (PNG, JPEG, BMP, TIFF), with errors
that name the file.

Generic file writing (atomic writes, CSV tables, strict JSON) is in :mod:`medseg.io`; this module
holds only what knows about image formats.
"""

from __future__ import annotations

import contextlib
import contextvars
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from medseg.errors import DataError
from medseg.io import atomic_write_bytes

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
DEFAULT_MAX_PIXELS = 50_000_000  # width x height; a 7000x7000 image passes, a 12000x12000 "bomb" does not
_MAX_PIXELS: contextvars.ContextVar[int] = contextvars.ContextVar("max_pixels", default=DEFAULT_MAX_PIXELS)
COLOUR_TOLERANCE = 48  # channels differing by more than this make a pixel coloured (JPEG noise stays below)


@contextlib.contextmanager
def pixel_limit(max_pixels: int | None) -> Iterator[None]:
    """Within the block, :func:`read_image` refuses images of more than ``max_pixels`` (None: unchanged)."""
    if max_pixels is None:
        yield
        return
    token = _MAX_PIXELS.set(int(max_pixels))
    try:
        yield
    finally:
        _MAX_PIXELS.reset(token)


def image_size(path: Path) -> tuple[int, int] | None:
    """``(width, height)`` from the file's header (Pillow reads it without decoding), or None if unknown."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return image.size
    except Image.DecompressionBombError as exc:
        found = [int(n) for n in str(exc).replace("(", " ").split() if n.isdigit()]
        return (found[0], 1) if found else (2**31, 1)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None


def read_image(path: str | Path, color: bool = False, max_pixels: int | None = None) -> np.ndarray:
    """Reads an image file.

    Args:
        path: PNG, JPEG, BMP or TIFF file.
        color: return ``(H, W, 3)`` RGB; otherwise ``(H, W)`` grey (colour files are converted).
        max_pixels: refuse images with more pixels (width x height), read from the header before
            decoding; None: the limit set by :func:`pixel_limit` (default :data:`DEFAULT_MAX_PIXELS`).

    Returns:
        ``uint8`` (or ``uint16``) array.

    Raises:
        DataError: the file is missing, empty, too large, or not a decodable image.
    """
    return _to_layout(_decode(Path(path), max_pixels), color)


def _decode(path: Path, max_pixels: int | None) -> np.ndarray:
    if not path.is_file():
        raise DataError(path, "file not found")
    if path.stat().st_size == 0:
        raise DataError(path, "file is empty")
    limit = _MAX_PIXELS.get() if max_pixels is None else max_pixels
    size = image_size(path)
    if size is None and path.suffix.lower() in (".tif", ".tiff"):
        size = _tiff_size(path)
    if size is None:
        raise DataError(path, "cannot be decoded as an image (corrupt or unsupported format)")
    if size is not None and size[0] * size[1] > limit:
        raise DataError(
            path, f"image of {size[0]}x{size[1]} pixels exceeds the limit of {limit} pixels (data.max_pixels)"
        )
    data = np.fromfile(path, dtype=np.uint8)
    try:
        array = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error:
        array = None
    if array is None and path.suffix.lower() in (".tif", ".tiff"):
        array = _read_tiff(path)
    if array is None:
        raise DataError(path, "cannot be decoded as an image (corrupt or unsupported format)")
    if array.size == 0 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise DataError(path, f"not a 2D grey or colour image (array of shape {array.shape})")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 3 and array.shape[2] == 4:
        array = _drop_alpha(array, path)
    return array


def _drop_alpha(array: np.ndarray, where: str | Path) -> np.ndarray:
    """BGR of a BGRA array; refused when the picture is only in the alpha (transparency) channel."""
    colour, alpha = array[:, :, :3], array[:, :, 3]
    if colour.min() == colour.max() and alpha.min() != alpha.max():
        raise DataError(
            where, "the picture is only in the alpha (transparency) channel, the colours are blank: save it as grey"
        )
    return cv2.cvtColor(array, cv2.COLOR_BGRA2BGR)


def check_unique_stems(files: list[Path]) -> list[Path]:
    """``files`` unchanged; outputs are named by stem, so two files of one stem (``a.png``, ``a.jpg``) are refused.

    Raises:
        DataError: naming both files.
    """
    seen: dict[str, Path] = {}
    for path in files:
        other = seen.setdefault(path.stem.lower(), path)
        if other is not path:
            raise DataError(path, f"has the same name as {other.name} (outputs are named by stem): rename one")
    return files


def _to_layout(array: np.ndarray, color: bool) -> np.ndarray:
    if color:
        if array.ndim == 2:
            return np.repeat(array[:, :, None], 3, axis=2)
        return cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
    if array.ndim == 3:
        return cv2.cvtColor(array, cv2.COLOR_BGR2GRAY)
    return array


def decode_image(data: bytes, where: str | Path, color: bool = False) -> np.ndarray:
    """Decodes the bytes of a PNG, JPEG, BMP or TIFF file (e.g. an upload) as :func:`read_image` does.

    The caller checks size limits first (see :mod:`medseg.serve.uploads`).

    Args:
        data: the file's content.
        where: what to name in errors (a path, or an upload's name).
        color: ``(H, W, 3)`` RGB; otherwise ``(H, W)`` grey.

    Raises:
        DataError: not a decodable 2D image.
    """
    try:
        array = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED) if data else None
    except cv2.error:
        array = None
    if array is None and data[:4] in (b"II*\x00", b"MM\x00*"):
        import io

        array = _read_tiff(io.BytesIO(data))  # type: ignore[arg-type]
    if array is None:
        raise DataError(where, "cannot be decoded as an image (corrupt or unsupported format)")
    if array.size == 0 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise DataError(where, f"not a 2D grey or colour image (array of shape {array.shape})")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 3 and array.shape[2] == 4:
        array = _drop_alpha(array, where)
    return _to_layout(array, color)


def _tiff_size(path: Path) -> tuple[int, int] | None:
    try:
        import tifffile

        with tifffile.TiffFile(path) as tiff:
            shape = tiff.pages[0].shape
    except Exception:  # noqa: BLE001 - any failure means "not a readable TIFF"
        return None
    return (int(shape[1]), int(shape[0])) if len(shape) >= 2 else None


def _read_tiff(path: Path) -> np.ndarray | None:
    try:
        import tifffile

        array = tifffile.imread(path)
    except Exception:  # noqa: BLE001 - any failure means "not decodable"
        return None
    if array.ndim == 3 and array.shape[2] in (3, 4):
        return cv2.cvtColor(array[:, :, :3], cv2.COLOR_RGB2BGR)
    return array


def read_mask(path: str | Path, palette: dict[Any, Any] | None = None) -> np.ndarray:
    """Reads a mask image as ``(H, W)`` values: a grey file as it is, a colour file through ``palette``.

    A colour file whose pixels are all grey (equal channels, up to JPEG noise) is read as grey.

    Args:
        palette: ``{label: [r, g, b]}`` for colour masks; black is background (0). Each pixel takes
            the label of the nearest palette colour within :data:`COLOUR_TOLERANCE`.

    Raises:
        DataError: a colour mask without palette (it would read as the wrong labels), or a colour
            not in the palette.
    """
    path = Path(path)
    array = _decode(path, None)
    if array.ndim == 2:
        return array
    rgb = cv2.cvtColor(array, cv2.COLOR_BGR2RGB).astype(np.int16)
    spread = rgb.max(axis=2) - rgb.min(axis=2)
    coloured = spread > COLOUR_TOLERANCE
    if not coloured.any():
        return rgb[:, :, 0].astype(array.dtype) if palette is None else _apply_palette(path, rgb, palette)
    if palette is None:
        y, x = np.argwhere(coloured)[0]
        raise DataError(
            path,
            f"colour mask (pixel ({x}, {y}) is RGB {tuple(int(v) for v in rgb[y, x])}); masks must be greyscale "
            "label maps, or declare the colours with the reader option palette={label: [r, g, b]}",
        )
    return _apply_palette(path, rgb, palette)


def _apply_palette(path: Path, rgb: np.ndarray, palette: dict[Any, Any]) -> np.ndarray:
    try:
        entries = {0: (0, 0, 0), **{int(k): tuple(int(c) for c in v) for k, v in palette.items()}}
    except (TypeError, ValueError):
        raise DataError(path, f"palette {palette!r} must map labels to [r, g, b]") from None
    if any(len(c) != 3 for c in entries.values()) or not all(0 <= k <= 255 for k in entries):
        raise DataError(path, f"palette {palette!r} must map labels 0..255 to [r, g, b]")
    labels = np.array(list(entries), dtype=np.uint8)
    colours = np.array(list(entries.values()), dtype=np.int32)
    distance = np.abs(rgb[:, :, None, :].astype(np.int32) - colours[None, None]).max(axis=3)
    nearest = distance.argmin(axis=2)
    unmatched = np.take_along_axis(distance, nearest[..., None], axis=2)[..., 0] > COLOUR_TOLERANCE
    if unmatched.any():
        y, x = np.argwhere(unmatched)[0]
        raise DataError(path, f"pixel ({x}, {y}) has colour {tuple(int(v) for v in rgb[y, x])}, not in the palette")
    return labels[nearest]


def read_binary_mask(path: str | Path, threshold: int = 127) -> np.ndarray:
    """Reads a grey mask image and binarises it (``> threshold``); JPEG masks need the threshold.

    Returns:
        ``(H, W)`` ``uint8`` array of 0 and 1.

    Raises:
        DataError: see :func:`read_mask` (a colour mask is refused).
    """
    return (read_mask(path) > threshold).astype(np.uint8)


def encode_image(array: np.ndarray, suffix: str = ".png", where: str | Path | None = None, params: tuple = ()) -> bytes:
    """The bytes of ``array`` as an image file of type ``suffix`` (``.png``, ``.jpg``, ..).

    Args:
        array: ``(H, W)`` grey or ``(H, W, 3)`` RGB.
        where: what to name in errors (default: the suffix).
        params: OpenCV encoder flags, e.g. ``(cv2.IMWRITE_JPEG_QUALITY, 88)``.

    Raises:
        DataError: OpenCV cannot encode the array.
    """
    if array.ndim == 3:
        array = cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(suffix, array, list(params))
    if not ok:
        kind = suffix.lstrip(".").upper()
        raise DataError(where if where is not None else suffix, f"could not encode image as {kind}")
    return encoded.tobytes()


def write_png(path: str | Path, array: np.ndarray) -> None:
    """Writes ``array`` as PNG atomically (a temporary file renamed into place)."""
    path = Path(path)
    atomic_write_bytes(path, encode_image(array, ".png", where=path))


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
    return check_unique_stems(files)
