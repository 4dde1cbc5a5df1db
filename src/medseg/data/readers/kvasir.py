"""Kvasir-SEG colonoscopy polyps (Jha et al. 2020).

```
root/images/<id>.jpg     RGB frame, sizes vary (332x487 .. 1920x1072)
root/masks/<id>.jpg      polyp mask, JPEG: values are not exactly 0/255, binarised at > 127
root/kavsir_bboxes.json  bounding boxes (optional, not needed for segmentation)
```
No patient identifiers are published, so every image is its own group; pixel spacing is unknown
(``None``: distances are reported in pixels).
"""

from __future__ import annotations

from pathlib import Path

from medseg.data.case import Case
from medseg.data.checks import case_guard
from medseg.data.io import list_images, read_binary_mask
from medseg.data.readers.folder import read_image_and_mask
from medseg.data.readers.registry import READERS
from medseg.errors import DataError


@READERS.register("kvasir")
def read_kvasir(root: Path, color: bool = True, threshold: int = 127, limit: int | None = None) -> list[Case]:
    """Reads Kvasir-SEG.

    Args:
        color: ``(H, W, 3)`` RGB images; False converts to grey ``(H, W)``.
        threshold: mask pixels ``> threshold`` are polyp.
        limit: read only the first ``limit`` images (sorted by name).

    Returns:
        Cases with uint8 images, ``(H, W)`` uint8 0/1 masks, ``meta = {spacing_mm: None, group: id}``.

    Raises:
        DataError: missing folders, an image without mask, a mask of another size.
    """
    root = Path(root)
    images = list_images(root / "images")
    mask_dir = root / "masks"
    if not mask_dir.is_dir():
        raise DataError(mask_dir, "Kvasir-SEG masks folder not found")
    if limit is not None:
        images = images[:limit]
    cases = []
    for image_path in images:
        with case_guard():
            image, mask = read_image_and_mask(
                image_path, mask_dir, lambda path: read_binary_mask(path, threshold), color
            )
            meta = {"spacing_mm": None, "group": image_path.stem, "reference": {}}
            cases.append(Case(image_path.stem, image, mask, meta, image_path))
    return cases
