"""Generic layout: ``images/`` and ``masks/`` with matching file names (any image suffix).

Optional ``pixel_size.csv`` (``filename,pixel size(mm)``) gives each image's spacing.
Masks holding only 0 and values above ``threshold`` (0/255 PNG, noisy JPEG) are binarised;
others are read as label maps (0 background, 1.. classes).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from medseg.data.case import Case
from medseg.data.checks import case_guard
from medseg.data.io import IMAGE_SUFFIXES, list_images, read_image, read_mask
from medseg.data.pixel_sizes import read_pixel_sizes
from medseg.data.readers.registry import READERS
from medseg.errors import DataError


def find_mask(mask_dir: Path, stem: str) -> Path | None:
    """The mask file whose stem is ``stem`` (any image suffix), or None.

    Raises:
        DataError: two masks of that stem (``a.png`` and ``a.jpg``).
    """
    found = [
        mask_dir / f"{stem}{suffix}"
        for suffix in IMAGE_SUFFIXES + tuple(s.upper() for s in IMAGE_SUFFIXES)
        if (mask_dir / f"{stem}{suffix}").is_file()
    ]
    found = list({p.resolve(): p for p in found}.values())  # case-insensitive file systems list one file twice
    if len(found) > 1:
        raise DataError(found[1], f"two masks for {stem}: {found[0].name} and {found[1].name}; keep one")
    return found[0] if found else None


def read_mask_labels(
    path: Path, mode: str = "auto", threshold: int = 127, palette: dict[Any, Any] | None = None
) -> np.ndarray:
    """Reads a mask as an ``(H, W)`` uint8 label map.

    Args:
        mode: ``"binary"`` (``> threshold`` -> 1), ``"labels"`` (values as they are) or ``"auto"``
            (binary when the file's maximum exceeds the number of plausible classes, i.e. > 20).
        palette: ``{label: [r, g, b]}`` of colour masks (see :func:`medseg.data.io.read_mask`);
            without it a colour mask is an error.
    """
    if palette is not None:
        return read_mask(path, palette).astype(np.uint8)
    raw = read_mask(path)
    if mode == "binary" or (mode == "auto" and raw.max() > 20):
        top = int(raw.max())
        if 0 < top <= threshold:  # a 0/100 mask: foreground below the usual threshold, not background
            threshold = top // 2
        return (raw > threshold).astype(np.uint8)
    if mode not in ("auto", "labels"):
        raise ValueError(f"mask mode must be auto, binary or labels, got {mode!r}")
    return raw.astype(np.uint8)


def read_image_and_mask(
    image_path: Path,
    mask_dir: Path,
    read_mask: Callable[[Path], np.ndarray],
    color: bool = False,
    require_mask: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Reads an image and its same-stem mask from ``mask_dir``, checking that their sizes agree.

    Args:
        read_mask: turns a mask file into an ``(H, W)`` uint8 label map (e.g. :func:`read_mask_labels`).
        require_mask: error when there is no mask; otherwise the mask is ``None``.

    Returns:
        ``(H, W)`` / ``(H, W, 3)`` image and ``(H, W)`` mask.

    Raises:
        DataError: a missing mask, an unreadable file, a mask whose size differs from the image.
    """
    mask_path = find_mask(mask_dir, image_path.stem) if mask_dir.is_dir() else None
    if mask_path is None and require_mask:
        raise DataError(image_path, f"no mask named {image_path.stem}.* in {mask_dir}")
    image = read_image(image_path, color=color)
    if mask_path is None:
        return image, None
    mask = read_mask(mask_path)
    if mask.shape != image.shape[:2]:
        raise DataError(mask_path, f"mask size {mask.shape[::-1]} differs from image size {image.shape[1::-1]}")
    return image, mask


@READERS.register("folder")
def read_folder(
    root: Path,
    color: bool = False,
    mask_mode: str = "auto",
    images: str = "images",
    masks: str = "masks",
    require_masks: bool = True,
    palette: dict[Any, Any] | None = None,
) -> list[Case]:
    """Reads ``root/images/*`` with ``root/masks/<same stem>.*``.

    Args:
        color: read RGB ``(H, W, 3)``; otherwise grey ``(H, W)``.
        mask_mode: see :func:`read_mask_labels`.
        require_masks: error on an image without mask; otherwise such cases get ``mask=None``.
        palette: ``{label: [r, g, b]}`` for colour masks (red on black: ``{1: [255, 0, 0]}``).

    Raises:
        DataError: missing folders, no images, a missing mask, a mask whose size differs.
    """
    root = Path(root)
    image_files = list_images(root / images)
    mask_dir = root / masks
    if require_masks and not mask_dir.is_dir():
        raise DataError(mask_dir, "masks folder not found")
    spacing = _read_spacing(root / "pixel_size.csv")
    cases = []
    if mask_mode not in ("auto", "binary", "labels"):
        raise ValueError(f"mask_mode must be auto, binary or labels, got {mask_mode!r}")
    for image_path in image_files:
        with case_guard():
            image, mask = read_image_and_mask(
                image_path,
                mask_dir,
                lambda path: read_mask_labels(path, mask_mode, palette=palette),
                color,
                require_masks,
            )
            size = spacing.get(image_path.name, 1.0)
            meta = {"spacing_mm": (size, size), "group": image_path.stem, "reference": {}}
            cases.append(Case(image_path.stem, image, mask, meta, image_path))
    return cases


def _read_spacing(path: Path) -> dict[str, float]:
    if not path.is_file():
        return {}
    return read_pixel_sizes(path)
