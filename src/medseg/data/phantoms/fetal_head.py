"""Fetal head ultrasound phantoms: speckled B-mode-like images with an elliptical skull of known axes and
pixel size, written in the HC18 layout (see :mod:`medseg.data.readers.hc18`).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import cv2
import numpy as np

from medseg.data.io import write_png
from medseg.io import atomic_write_text
from medseg.measure.ellipse import Ellipse, ellipse_outline_points, ramanujan_perimeter


def _speckle(rng: np.random.Generator, shape: tuple[int, int], grain: float) -> np.ndarray:
    """Rayleigh speckle low-passed to a grain of ``grain`` pixels, mean ~1."""
    noise = rng.rayleigh(1.0, size=shape).astype(np.float32)
    return cv2.GaussianBlur(noise, (0, 0), grain) / 1.25


def fetal_head_image(rng: np.random.Generator, shape: tuple[int, int] = (270, 400)) -> tuple[np.ndarray, Ellipse]:
    """One synthetic fetal head ultrasound image.

    Returns:
        ``(H, W)`` uint8 image and the head ellipse (pixels) on the skull's centre line.
    """
    height, width = shape
    b = rng.uniform(0.22, 0.36) * height  # semi-minor axis
    a = b * rng.uniform(1.1, 1.35)
    margin = a + 4
    cx = rng.uniform(min(margin, width / 2), max(width - margin, width / 2))
    cy = rng.uniform(min(b + 4, height / 2), max(height - b - 4, height / 2))
    ellipse = Ellipse(cx, cy, a, b, rng.uniform(0, math.pi))

    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    dx, dy = cols - ellipse.cx, rows - ellipse.cy
    cos, sin = math.cos(ellipse.angle), math.sin(ellipse.angle)
    u, v = dx * cos + dy * sin, -dx * sin + dy * cos
    radius = np.sqrt((u / a) ** 2 + (v / b) ** 2)  # 1 on the ellipse
    distance = (radius - 1.0) * b  # approximate signed distance (pixels)

    tissue = 0.35 + 0.15 * cv2.GaussianBlur(rng.normal(size=shape).astype(np.float32), (0, 0), 25) * 8
    brain = np.where(distance < 0, 0.22, tissue)
    skull = 0.9 * np.exp(-((distance / rng.uniform(1.5, 3.0)) ** 2))
    midline = 0.35 * np.exp(-((v / 1.5) ** 2)) * (radius < 0.8)
    echo = np.clip(brain + skull + midline, 0, 1.2) * _speckle(rng, shape, 1.2)
    # Ultrasound fan: dark outside a sector opening downwards from the top centre.
    fan_angle = np.arctan2(cols - width / 2, rows + height * 0.3)
    echo *= (np.abs(fan_angle) < 0.75).astype(np.float32) * 0.9 + 0.1
    echo *= np.linspace(1.0, 0.7, height, dtype=np.float32)[:, None]  # depth attenuation
    image = np.clip(echo * 200, 0, 255).astype(np.uint8)
    return image, ellipse


def outline_image(ellipse: Ellipse, shape: tuple[int, int]) -> np.ndarray:
    """A one-pixel ellipse outline as an HC18 annotation draws it (uint8 0/255)."""
    points = ellipse_outline_points(ellipse, n=max(720, int(ellipse.perimeter * 4)))
    outline = np.zeros(shape, dtype=np.uint8)
    cols = np.clip(np.round(points[:, 0]).astype(int), 0, shape[1] - 1)
    rows = np.clip(np.round(points[:, 1]).astype(int), 0, shape[0] - 1)
    outline[rows, cols] = 255
    return outline


def write_fetal_head_dataset(
    root: str | Path,
    n_subjects: int = 30,
    second_scan_fraction: float = 0.3,
    n_test: int = 4,
    shape: tuple[int, int] = (270, 400),
    seed: int = 0,
) -> Path:
    """Writes a synthetic HC18-layout dataset.

    Subjects are numbered ``000``..; a fraction get a second scan ``NNN_2HC`` (same subject, so
    splits must keep them together). Pixel sizes vary per image (0.1-0.25 mm) like HC18's.

    Returns:
        ``root``.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    train_rows = []
    for subject in range(n_subjects):
        names = [f"{subject:03d}_HC"]
        if rng.random() < second_scan_fraction:
            names.append(f"{subject:03d}_2HC")
        for name in names:
            image, ellipse = fetal_head_image(rng, shape)
            pixel_size = float(rng.uniform(0.1, 0.25))
            write_png(root / "training_set" / f"{name}.png", image)
            write_png(root / "training_set" / f"{name}_Annotation.png", outline_image(ellipse, shape))
            hc_mm = ramanujan_perimeter(ellipse.a, ellipse.b) * pixel_size
            train_rows.append([f"{name}.png", f"{pixel_size:.9f}", f"{hc_mm:.2f}"])
    _write_csv(
        root / "training_set_pixel_size_and_HC.csv",
        ["filename", "pixel size(mm)", "head circumference (mm)"],
        train_rows,
    )
    test_rows = []
    for index in range(n_test):
        name = f"{n_subjects + index:03d}_HC"
        image, _ = fetal_head_image(rng, shape)
        write_png(root / "test_set" / f"{name}.png", image)
        test_rows.append([f"{name}.png", f"{float(rng.uniform(0.1, 0.25)):.9f}"])
    _write_csv(root / "test_set_pixel_size.csv", ["filename", "pixel size(mm)"], test_rows)
    return root


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())
