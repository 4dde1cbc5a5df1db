"""Lung CT slices with nodules, written in the pylidc export layout (as the LIDC-IDRI data here).

```
root/Image/LIDC-IDRI-NNNN/NNNN_NIxxx_sliceyyy.npy   float16 slice through nodule xxx
root/Mask/LIDC-IDRI-NNNN/NNNN_MAxxx_sliceyyy.npy    bool nodule mask
root/Meta/meta_info.csv                             the export's index
```
Intensities mimic the export's rescaling (lung ~0, soft tissue ~1, bone ~2-3), not Hounsfield units.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from medseg.io import atomic_write_bytes, atomic_write_text


def lung_slice(rng: np.random.Generator, size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """A chest slice and the mask of where the two lungs are.

    Returns:
        ``(size, size)`` float32 image and bool lung mask.
    """
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    c = size / 2
    body = ((y - c) / (0.4 * size)) ** 2 + ((x - c) / (0.47 * size)) ** 2 <= 1
    lungs = np.zeros((size, size), bool)
    for side in (-1, 1):
        lungs |= ((y - c) / (0.3 * size)) ** 2 + ((x - c - side * 0.22 * size) / (0.17 * size)) ** 2 <= 1
    spine = (y - 0.78 * size) ** 2 + (x - c) ** 2 <= (0.06 * size) ** 2
    image = np.full((size, size), -0.2, np.float32)
    image[body] = 1.0
    image[lungs] = 0.05
    image[spine] = 2.5
    vessels = rng.normal(0, 1, (size, size)).astype(np.float32)
    image += 0.03 * vessels
    return image, lungs


def write_lidc_export(
    root: str | Path,
    n_patients: int = 3,
    nodules_per_patient: tuple[int, int] = (1, 2),
    size: int = 128,
    seed: int = 0,
) -> Path:
    """Writes synthetic patients ``LIDC-IDRI-0001``.. with spherical nodules over 3-5 slices each.

    Returns:
        ``root``.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    rows = []
    for patient in range(1, n_patients + 1):
        pid = f"{patient:04d}"
        for nodule in range(int(rng.integers(nodules_per_patient[0], nodules_per_patient[1] + 1))):
            base, lungs = lung_slice(rng, size)
            inside = np.argwhere(lungs)
            cy, cx = inside[rng.integers(len(inside))]
            radius = rng.uniform(0.03, 0.06) * size
            n_slices = int(rng.integers(3, 6))
            y, x = np.mgrid[0:size, 0:size]
            for s in range(n_slices):
                dz = (s - (n_slices - 1) / 2) / (n_slices / 2)
                r = radius * np.sqrt(max(0.2, 1 - dz**2))
                mask = (y - cy) ** 2 + (x - cx) ** 2 <= r**2
                image = base + rng.normal(0, 0.02, base.shape).astype(np.float32)
                image[mask] = 1.1 + rng.normal(0, 0.05, int(mask.sum()))
                stem = f"{pid}_NI{nodule:03d}_slice{s:03d}"
                mask_stem = f"{pid}_MA{nodule:03d}_slice{s:03d}"
                _save_npy(root / "Image" / f"LIDC-IDRI-{pid}" / f"{stem}.npy", image.astype(np.float16))
                _save_npy(root / "Mask" / f"LIDC-IDRI-{pid}" / f"{mask_stem}.npy", mask)
                rows.append([pid, nodule, s, stem, mask_stem, 3, True, False])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["patient_id", "nodule_no", "slice_no", "original_image", "mask_image", "malignancy", "is_cancer", "is_clean"]
    )
    writer.writerows(rows)
    atomic_write_text(root / "Meta" / "meta_info.csv", buffer.getvalue())
    return root


def _save_npy(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array)
    atomic_write_bytes(path, buffer.getvalue())
