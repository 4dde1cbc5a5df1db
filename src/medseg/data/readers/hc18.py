"""HC18 fetal head ultrasound layout (van den Heuvel et al. 2018).

```
root/training_set/NNN_HC.png              image (800x540 grey)
root/training_set/NNN_HC_Annotation.png   head outline (a thin ellipse line)
root/training_set_pixel_size_and_HC.csv   filename,pixel size(mm),head circumference (mm)
root/test_set/NNN_HC.png                  unlabelled images
root/test_set_pixel_size.csv              filename,pixel size(mm)
```
The training mask is the filled ellipse fitted through the outline's pixels, so its edge lies
on the line's centre (filling the drawn line instead would add its thickness to the head).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from medseg.data.case import Case
from medseg.data.checks import case_guard
from medseg.data.io import read_image, read_mask
from medseg.data.pixel_sizes import read_pixel_size_csv
from medseg.data.readers.registry import READERS
from medseg.errors import DataError
from medseg.measure.ellipse import fit_ellipse_to_outline, rasterize_ellipse

TRAIN_CSV = "training_set_pixel_size_and_HC.csv"
TEST_CSV = "test_set_pixel_size.csv"
_SUBJECT = re.compile(r"^(\d+)_")


def subject_of(filename: str) -> str:
    """``"010_2HC.png"`` -> ``"010"``: all scans of one subject share the number."""
    match = _SUBJECT.match(Path(filename).name)
    return match.group(1) if match else Path(filename).stem


@READERS.register("hc18")
def read_hc18(root: Path, subset: str = "train", limit: int | None = None) -> list[Case]:
    """Reads the HC18 training set (``subset="train"``, with masks) or test set (``"test"``).

    Args:
        root: folder holding ``training_set/`` and/or ``test_set/`` and their CSVs.
        subset: ``"train"`` or ``"test"``.
        limit: read only the first ``limit`` images (for quick experiments).

    Returns:
        Cases with ``(540, 800)`` uint8 images, ``(540, 800)`` uint8 0/1 masks (train),
        ``meta = {spacing_mm, group, reference: {hc_mm}}``.
    """
    root = Path(root)
    if subset not in ("train", "test"):
        raise ValueError(f"subset must be 'train' or 'test', got {subset!r}")
    folder = root / ("training_set" if subset == "train" else "test_set")
    csv_path = root / (TRAIN_CSV if subset == "train" else TEST_CSV)
    if not folder.is_dir():
        raise DataError(folder, "HC18 folder not found (expected training_set/ or test_set/ under the root)")
    images = sorted(p for p in folder.glob("*HC.png"))
    if not images:
        raise DataError(folder, "no HC18 images (*HC.png) in folder")
    if limit is not None:
        images = images[:limit]
    table = read_pixel_size_csv(csv_path)
    cases = []
    for image_path in images:
        with case_guard():
            row = table.get(image_path.name)
            if row is None:
                raise DataError(csv_path, f"no row for {image_path.name}")
            image = read_image(image_path)
            mask = None
            if subset == "train":
                mask = _mask_from_annotation(image_path, image.shape)
            reference = {"hc_mm": row["hc_mm"]} if "hc_mm" in row else {}
            meta = {
                "spacing_mm": (row["pixel_size"], row["pixel_size"]),
                "group": subject_of(image_path.name),
                "reference": reference,
            }
            cases.append(Case(image_path.stem, image, mask, meta, image_path))
    return cases


def _mask_from_annotation(image_path: Path, shape: tuple[int, ...]) -> np.ndarray:
    annotation_path = image_path.with_name(f"{image_path.stem}_Annotation.png")
    if not annotation_path.is_file():
        raise DataError(annotation_path, f"annotation missing for {image_path.name}")
    outline = read_mask(annotation_path)
    if outline.shape != shape[:2]:
        raise DataError(
            annotation_path, f"annotation size {outline.shape[::-1]} differs from image size {shape[1::-1]}"
        )
    if np.count_nonzero(outline) < 5:
        raise DataError(annotation_path, "annotation holds no head outline")
    ellipse = fit_ellipse_to_outline(outline > 0)
    return rasterize_ellipse(ellipse, outline.shape).astype(np.uint8)
