"""Colonoscopy frames with polyps, in the Kvasir-SEG and CVC-ClinicDB layouts.

Frames are RGB: reddish mucosa with folds, vignetting and the endoscope's black corners; a polyp
is a shaded, slightly brighter ellipse whose mask is the label.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from medseg.data.io import encode_image
from medseg.io import atomic_write_bytes, atomic_write_text


def polyp_frame(
    rng: np.random.Generator,
    shape: tuple[int, int] = (96, 128),
    polyp: tuple[float, float, float, float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float, float, float]]:
    """One colonoscopy frame.

    Args:
        shape: ``(H, W)``.
        polyp: ``(cy, cx, ry, rx, angle)`` in pixels / radians; random when None.

    Returns:
        ``(H, W, 3)`` uint8 RGB frame, ``(H, W)`` uint8 0/1 mask, and the polyp parameters.
    """
    height, width = shape
    if polyp is None:
        ry = rng.uniform(0.12, 0.25) * height
        rx = ry * rng.uniform(0.8, 1.4)
        polyp = (
            rng.uniform(0.3, 0.7) * height,
            rng.uniform(0.3, 0.7) * width,
            ry,
            rx,
            rng.uniform(0, math.pi),
        )
    cy, cx, ry, rx, angle = polyp
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    folds = 0.08 * np.sin((x * 0.7 + y * 0.3) / (0.06 * width) + rng.uniform(0, 6))
    vignette = 1 - 0.5 * (((y - height / 2) / height) ** 2 + ((x - width / 2) / width) ** 2) * 2
    base = np.clip(0.75 + folds + 0.05 * rng.normal(size=shape), 0, 1) * vignette
    cos, sin = math.cos(angle), math.sin(angle)
    u = ((x - cx) * cos + (y - cy) * sin) / rx
    v = (-(x - cx) * sin + (y - cy) * cos) / ry
    radius = np.sqrt(u**2 + v**2)
    mask = (radius <= 1).astype(np.uint8)
    dome = np.clip(1 - radius**2, 0, 1)
    red = base * 0.85 + mask * (0.1 + 0.15 * dome)
    green = base * 0.45 + mask * (0.15 * dome)
    blue = base * 0.35 + mask * (0.1 * dome)
    rgb = np.stack([red, green, blue], axis=2)
    corners = ((y / height - 0.5) ** 2 + (x / width - 0.5) ** 2) > 0.36  # the endoscope's round field of view
    rgb[corners] = 0
    mask[corners] = 0
    return np.clip(rgb * 255, 0, 255).astype(np.uint8), mask, polyp


def write_kvasir_dataset(
    root: str | Path,
    n_images: int = 10,
    sizes: tuple[tuple[int, int], ...] = ((96, 128), (80, 100), (120, 140)),
    seed: int = 0,
) -> Path:
    """Writes ``images/<id>.jpg``, ``masks/<id>.jpg`` (JPEG: noisy 0/255) and ``kavsir_bboxes.json``.

    Image sizes vary (cycled through ``sizes``), as in Kvasir-SEG.

    Returns:
        ``root``.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    boxes = {}
    for index in range(n_images):
        shape = sizes[index % len(sizes)]
        image, mask, _ = polyp_frame(rng, shape)
        name = f"cju{index:04d}synthetic{int(rng.integers(1e6)):06d}"
        atomic_write_bytes(root / "images" / f"{name}.jpg", encode_image(image, ".jpg"))
        atomic_write_bytes(root / "masks" / f"{name}.jpg", encode_image(mask * 255, ".jpg"))
        rows, cols = np.nonzero(mask)
        boxes[name] = {
            "height": shape[0],
            "width": shape[1],
            "bbox": [
                {
                    "label": "polyp",
                    "xmin": int(cols.min()),
                    "ymin": int(rows.min()),
                    "xmax": int(cols.max()),
                    "ymax": int(rows.max()),
                }
            ],
        }
    atomic_write_text(root / "kavsir_bboxes.json", json.dumps(boxes))
    return root


def write_cvc_dataset(
    root: str | Path,
    frames_per_sequence: tuple[int, ...] = (4, 3, 5, 2),
    layout: str = "tiff",
    shape: tuple[int, int] = (72, 96),
    seed: int = 0,
    readme: bool = True,
) -> Path:
    """Writes CVC-ClinicDB-style frames numbered 1.. with one polyp per video sequence.

    Args:
        frames_per_sequence: frames of sequences 1, 2, ..; frames of a sequence show the same polyp moved.
        layout: ``"tiff"`` (official: ``Original/N.tif``, ``Ground Truth/N.tif``) or ``"jpg"``
            (re-release: ``images/N.jpg``, ``masks/N.jpg``).
        readme: write ``README.txt`` with the frame -> sequence table as the official one has it.

    Returns:
        ``root``.
    """
    import tifffile

    if layout not in ("tiff", "jpg"):
        raise ValueError(f"layout must be 'tiff' or 'jpg', got {layout!r}")
    root = Path(root)
    rng = np.random.default_rng(seed)
    frame = 0
    table = []
    for sequence, count in enumerate(frames_per_sequence, start=1):
        _, _, polyp = polyp_frame(rng, shape)
        table.append((frame + 1, frame + count, sequence))
        for _ in range(count):
            frame += 1
            moved = (polyp[0] + rng.normal(0, 2), polyp[1] + rng.normal(0, 2), *polyp[2:])
            image, mask, _ = polyp_frame(rng, shape, moved)
            if layout == "tiff":
                for folder, array in (("Original", image), ("Ground Truth", mask * 255)):
                    path = root / folder / f"{frame}.tif"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    tifffile.imwrite(path, array, photometric="rgb" if array.ndim == 3 else "minisblack")
            else:
                atomic_write_bytes(root / "images" / f"{frame}.jpg", encode_image(image, ".jpg"))
                atomic_write_bytes(root / "masks" / f"{frame}.jpg", encode_image(mask * 255, ".jpg"))
    if readme:
        lines = ["CVC-ClinicDB (synthetic)", "", "       |   Frame Number   |  Sequence  |"]
        lines += [f"       |    {a:3d} to {b:3d}    |\t {s}\t|" for a, b, s in table]
        atomic_write_text(root / "README.txt", "\n".join(lines) + "\n")
    return root
