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

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medseg.data.io import IMAGE_SUFFIXES, read_image
from medseg.errors import DataError

INPUT_SUFFIXES = (*IMAGE_SUFFIXES, ".dcm", ".npy")
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
        raise DataError(folder, f"no inputs ({', '.join(INPUT_SUFFIXES)}) in folder")
    return files


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
    return [InputImage(path.stem, read_image(path, color=color, max_pixels=max_pixels))]


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


def _dicom_spacing(dataset) -> tuple[float, float] | None:
    spacing = getattr(dataset, "PixelSpacing", None)
    if spacing is None:  # NM objects may keep it in the detector information
        for item in getattr(dataset, "DetectorInformationSequence", []) or []:
            spacing = getattr(item, "PixelSpacing", None) or spacing
    if spacing is None or len(spacing) != 2:
        return None
    return float(spacing[0]), float(spacing[1])


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
        pixels = apply_modality_lut(pixels, dataset)
    stack = pixels if frames > 1 else pixels[None]
    expected = 4 if samples > 1 else 3
    if stack.ndim != expected:
        raise DataError(path, f"unexpected DICOM pixel data of shape {pixels.shape}")
    spacing = _dicom_spacing(dataset)
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
