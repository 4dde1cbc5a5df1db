"""Files to predict: images, DICOM (single- and multi-frame) and NumPy crops, as 2D arrays.

``medseg predict`` reads a folder of inputs through :func:`list_inputs` and :func:`read_inputs`:

- ``.png``/``.jpg``/``.tif``/... : one image (:func:`medseg.data.io.read_image`);
- ``.dcm``: a DICOM file, e.g. a nuclear-medicine bone scan. A single-frame file is one image; a
  multi-frame file (``NumberOfFrames > 1``, e.g. anterior and posterior views in one NM object)
  gives one image per frame, named ``<stem>_frame<k>`` (k from 1). Stored values go through the
  modality LUT (rescale slope/intercept); ``PixelSpacing`` (or NM's ``PixelSpacing`` in the
  detector module) gives the pixel size;
- ``.npy``: a 2D (or ``(H, W, C)``) NumPy array, such as the LIDC-IDRI export's crops, read as
  float32 — only for a model trained on arrays of that kind (``NPY_LAYOUTS``), since arrays carry
  no hint of their intensity scale.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medseg.data.io import IMAGE_SUFFIXES, check_unique_stems, read_image
from medseg.errors import DataError

INPUT_SUFFIXES = (*IMAGE_SUFFIXES, ".dcm", ".npy")
UNREAD_SUFFIXES = (".webp", ".gif", ".heic", ".avif", ".jp2")  # image formats medseg does not read
MAX_NAME_BYTES = 200  # outputs add a suffix to the input's name; file systems allow 255 bytes
NPY_LAYOUTS = ("lidc",)  # readers whose training images are NumPy arrays


@dataclass
class InputImage:
    """One 2D image to predict: ``name`` for its outputs, ``image`` ``(H, W)`` or ``(H, W, C)``,
    ``spacing_mm`` ``(row, col)`` when the file carries it."""

    name: str
    image: np.ndarray
    spacing_mm: tuple[float, float] | None = None


def list_inputs(folder: str | Path) -> list[Path]:
    """The files of ``folder`` that :func:`read_inputs` reads, sorted.

    Raises:
        DataError: no such folder, or nothing readable in it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "input folder not found")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in INPUT_SUFFIXES)
    if not files:
        check_unread_formats(folder)
        raise DataError(folder, f"no inputs ({', '.join(INPUT_SUFFIXES)}) in folder")
    for path in files:
        check_file_name(path)
    return check_unique_stems(files)


def check_unread_formats(folder: Path) -> None:
    """Raises a :class:`DataError` when ``folder`` holds images of a format medseg does not read (WebP, GIF...),
    or a link to a file that is not there (naming it)."""
    dangling = sorted(p for p in folder.iterdir() if p.is_symlink() and not p.exists())
    if dangling:
        target = os.readlink(dangling[0])
        raise DataError(dangling[0], f"a link to {target}, which does not exist ({len(dangling)} such links here)")
    other = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in UNREAD_SUFFIXES)
    if other:
        raise DataError(
            folder, f"holds {other[0].suffix} images ({other[0].name}), which medseg does not read: convert them to PNG"
        )


def check_file_name(path: Path) -> None:
    """Refuses input names that outputs cannot carry: not UTF-8, or longer than :data:`MAX_NAME_BYTES` bytes."""
    try:
        size = len(path.name.encode("utf-8"))
    except UnicodeEncodeError:
        raise DataError(path, "file name is not valid UTF-8: rename the file") from None
    if size > MAX_NAME_BYTES:
        raise DataError(path, f"file name of {size} bytes is too long for the outputs named after it: rename it")


def holds_planar_inputs(files: list[Path]) -> bool:
    """True when ``files`` hold 2D inputs that are not image files: NumPy crops, or planar DICOM
    images (nuclear medicine, radiographs: no ``ImagePositionPatient``, unlike the slices of a CT
    or MR series). Only the first DICOM file's header is read."""
    if any(p.suffix.lower() == ".npy" for p in files):
        return True
    first = next((p for p in sorted(files) if p.suffix.lower() == ".dcm"), None)
    if first is None:
        return False
    import pydicom

    try:
        header = pydicom.dcmread(first, stop_before_pixels=True)
    except Exception:  # noqa: BLE001 - not readable as DICOM: let the reader name the problem
        return False
    return "ImagePositionPatient" not in header


def read_inputs(
    path: str | Path, color: bool = False, layout: str | None = None, max_pixels: int | None = None
) -> list[InputImage]:
    """The image(s) of one input file (see the module docstring).

    Args:
        path: image, ``.dcm`` or ``.npy`` file.
        color: read images as RGB ``(H, W, 3)``.
        layout: the reader the model was trained with (``config.data.layout``); ``.npy`` needs one
            of :data:`NPY_LAYOUTS`.
        max_pixels: image files larger than this are refused (:func:`medseg.data.io.read_image`).

    Raises:
        DataError: unreadable file, unexpected shape, or a ``.npy`` for a model not trained on arrays.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".dcm":
        return _read_dicom(path, color)
    if suffix == ".npy":
        if layout not in NPY_LAYOUTS:
            raise DataError(
                path,
                f"NumPy arrays are read only for models trained on them (layouts: {', '.join(NPY_LAYOUTS)}); "
                f"this model was trained on the {layout!r} layout: give images instead",
            )
        return [InputImage(path.stem, _read_npy(path))]
    return [_checked(path, InputImage(path.stem, read_image(path, color=color, max_pixels=max_pixels)))]


def _checked(path: Path, item: InputImage) -> InputImage:
    """``item`` when its image can be segmented: at least 2x2 pixels, finite values."""
    image = item.image
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise DataError(path, f"image of {image.shape[1]}x{image.shape[0]} pixels is too small to segment")
    if np.issubdtype(image.dtype, np.floating) and not np.isfinite(image).all():
        raise DataError(path, "image holds NaN or infinite values")
    return item


def _read_npy(path: Path) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(path, f"cannot be read as a NumPy array ({exc})") from None
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3)):
        raise DataError(path, f"expected a 2D array (H, W) or (H, W, C), got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_:
        raise DataError(path, f"expected numbers, got dtype {array.dtype}")
    return array.astype(np.float32)


def _dicom_spacing(dataset, where: str | Path = "DICOM") -> tuple[float, float] | None:
    spacing = getattr(dataset, "PixelSpacing", None)
    if spacing is None:  # NM objects may keep it in the detector information
        for item in getattr(dataset, "DetectorInformationSequence", []) or []:
            spacing = getattr(item, "PixelSpacing", None) or spacing
    if spacing is None:
        return None
    from medseg.data.checks import check_spacing

    if len(spacing) != 2:
        raise DataError(where, f"PixelSpacing {list(spacing)} must hold two values (row, column) in mm")
    row, col = check_spacing(spacing, where)
    return row, col


def check_rescale(dataset, where: str | Path) -> None:
    """Raises a :class:`DataError` when RescaleSlope or RescaleIntercept is not a finite number."""
    import math

    for key in ("RescaleSlope", "RescaleIntercept"):
        element = dataset.get(key)
        if element is None:
            continue
        try:
            value = float(element.value if hasattr(element, "value") else element)
        except (TypeError, ValueError):
            value = math.nan
        if not math.isfinite(value) or (key == "RescaleSlope" and value == 0):
            raise DataError(where, f"{key} {str(getattr(element, 'value', element))[:20]!r} is not a usable number")


def _read_dicom(path: Path, color: bool) -> list[InputImage]:
    import pydicom
    from pydicom.pixels import apply_modality_lut

    try:
        dataset = pydicom.dcmread(path)
        pixels = dataset.pixel_array
    except Exception as exc:  # noqa: BLE001 - pydicom raises many kinds for bad or odd files
        raise DataError(path, f"cannot be read as a DICOM image ({' '.join(str(exc).split())})") from None
    samples = int(getattr(dataset, "SamplesPerPixel", 1))
    frames = int(getattr(dataset, "NumberOfFrames", 1) or 1)
    if samples == 1:
        check_rescale(dataset, path)
        pixels = apply_modality_lut(pixels, dataset)
    stack = pixels if frames > 1 else pixels[None]
    expected = 4 if samples > 1 else 3
    if stack.ndim != expected:
        raise DataError(path, f"unexpected DICOM pixel data of shape {pixels.shape}")
    spacing = _dicom_spacing(dataset, path)
    images = []
    for index, frame in enumerate(stack, start=1):
        frame = np.asarray(frame, dtype=np.float32)
        if color and frame.ndim == 2:
            frame = np.repeat(frame[..., None], 3, axis=2)
        elif not color and frame.ndim == 3:
            frame = frame.mean(axis=2)
        name = f"{path.stem}_frame{index}" if frames > 1 else path.stem
        images.append(InputImage(name, frame, spacing))
    return images
