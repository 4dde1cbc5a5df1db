"""CVC-ClinicDB colonoscopy polyps (Bernal et al. 2015), official TIFF release or its PNG/JPG re-release.

```
root/Original/N.tif        RGB frame N (384x288)            | root/images/N.png|jpg
root/Ground Truth/N.tif    polyp mask, 0/255                | root/masks/N.png|jpg  (JPEG: threshold)
root/README.txt            frame ranges -> video sequences 1..29
```
Frames of one video sequence show the same polyp, so the sequence is the case's ``group``: splits
never put frames of one sequence on both sides. The table is parsed from ``README.txt``; when the
file is missing or unreadable the official table (:data:`OFFICIAL_SEQUENCES`) is used.
"""

from __future__ import annotations

import re
from pathlib import Path

from medseg.data.case import Case
from medseg.data.checks import case_guard
from medseg.data.io import IMAGE_SUFFIXES, read_binary_mask
from medseg.data.readers.folder import read_image_and_mask
from medseg.data.readers.registry import READERS
from medseg.errors import DataError

# (first frame, last frame, sequence) as in the official README.txt.
OFFICIAL_SEQUENCES: tuple[tuple[int, int, int], ...] = (
    (1, 25, 1), (26, 50, 2), (51, 67, 3), (68, 78, 4), (79, 103, 5), (104, 126, 6), (127, 151, 7),
    (152, 177, 8), (178, 199, 9), (200, 205, 10), (206, 227, 11), (228, 252, 12), (253, 277, 13),
    (278, 297, 14), (298, 317, 15), (318, 342, 16), (343, 363, 17), (364, 383, 18), (384, 408, 19),
    (409, 428, 20), (429, 447, 21), (448, 466, 22), (467, 478, 23), (479, 503, 24), (504, 528, 25),
    (529, 546, 26), (547, 571, 27), (572, 591, 28), (592, 612, 29),
)  # fmt: skip
_RANGE = re.compile(r"(\d+)\s*to\s*(\d+)\s*\|\s*(\d+)")


def parse_sequence_table(readme: Path) -> tuple[tuple[int, int, int], ...] | None:
    """``(first, last, sequence)`` rows of a CVC-ClinicDB README, or None when absent or inconsistent."""
    if not readme.is_file():
        return None
    text = readme.read_bytes().decode("latin-1")
    rows = tuple((int(a), int(b), int(s)) for a, b, s in _RANGE.findall(text))
    if not rows:
        return None
    ordered = sorted(rows)
    if any(a > b for a, b, _ in ordered) or any(ordered[i][1] >= ordered[i + 1][0] for i in range(len(ordered) - 1)):
        return None
    return rows


def sequence_of(frame: int, table: tuple[tuple[int, int, int], ...]) -> int | None:
    for first, last, sequence in table:
        if first <= frame <= last:
            return sequence
    return None


def _find_dir(root: Path, names: tuple[str, ...]) -> Path | None:
    if not root.is_dir():
        return None
    for child in sorted(root.iterdir()):
        if child.is_dir() and child.name.lower().replace("_", " ") in names:
            return child
    return None


@READERS.register("cvc_clinicdb")
def read_cvc_clinicdb(
    root: Path, color: bool = True, threshold: int = 127, limit: int | None = None, readme: str = "README.txt"
) -> list[Case]:
    """Reads CVC-ClinicDB in either layout (found automatically).

    Args:
        color: ``(H, W, 3)`` RGB; False converts to grey.
        threshold: mask pixels ``> threshold`` are polyp.
        limit: read only the first ``limit`` frames (in frame order).
        readme: name of the README holding the sequence table.

    Returns:
        Cases ``id = frame number`` with ``meta = {spacing_mm: None, group: "seqNN", sequence, frame}``
        (a frame outside the table is its own group ``frameN``).

    Raises:
        DataError: no frame folder, a frame without mask, a mask of another size.
    """
    root = Path(root)
    image_dir = _find_dir(root, ("original",)) or _find_dir(root, ("images",))
    mask_dir = _find_dir(root, ("ground truth", "groundtruth")) or _find_dir(root, ("masks",))
    if image_dir is None or mask_dir is None:
        raise DataError(
            root, "CVC-ClinicDB folders not found (expected Original/ + Ground Truth/, or images/ + masks/)"
        )
    files = [p for p in image_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise DataError(image_dir, "no frames in folder")
    files.sort(key=lambda p: (0, int(p.stem)) if p.stem.isdigit() else (1, p.stem))
    if limit is not None:
        files = files[:limit]
    table = parse_sequence_table(root / readme) or OFFICIAL_SEQUENCES
    cases = []
    for image_path in files:
        with case_guard():
            image, mask = read_image_and_mask(
                image_path, mask_dir, lambda path: read_binary_mask(path, threshold), color
            )
            frame = int(image_path.stem) if image_path.stem.isdigit() else None
            sequence = sequence_of(frame, table) if frame is not None else None
            group = f"seq{sequence:02d}" if sequence is not None else f"frame{image_path.stem}"
            meta = {"spacing_mm": None, "group": group, "sequence": sequence, "frame": frame, "reference": {}}
            cases.append(Case(image_path.stem, image, mask, meta, image_path))
    return cases
