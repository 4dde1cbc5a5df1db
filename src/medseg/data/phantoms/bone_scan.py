"""Whole-body bone scintigraphy phantoms: skeleton, normal uptake, hotspots; anterior and posterior views.

Label maps use the 4-segment scheme: 0 background, 1 normal bone, 2 normal uptake (kidneys,
bladder), 3 abnormal hotspot. Written in the ``bone_scan`` layout
(:mod:`medseg.data.readers.bone_scan`): ``images/<patient>_<view>.png`` (uint16 counts) and
``labels/<patient>_<view>.png``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from medseg.data.io import write_png
from medseg.io import atomic_write_text

BONE, UPTAKE, HOTSPOT = 1, 2, 3


def _skeleton(shape: tuple[int, int]) -> np.ndarray:
    """Anterior-view skeleton mask (patient's right on the image's left), drawn in relative units."""
    height, width = shape
    canvas = np.zeros(shape, np.uint8)

    def pt(x: float, y: float) -> tuple[int, int]:
        return int(round(x * width)), int(round(y * height))

    def t(v: float) -> int:
        return max(1, int(round(v * width)))

    cv2.ellipse(canvas, pt(0.5, 0.07), (t(0.11), int(0.06 * height)), 0, 0, 360, 1, -1)  # skull
    cv2.line(canvas, pt(0.5, 0.13), pt(0.5, 0.52), 1, t(0.05))  # spine
    for k in range(7):  # ribs
        y = 0.2 + 0.035 * k
        cv2.ellipse(canvas, pt(0.5, y), (t(0.2 - 0.004 * k), int(0.03 * height)), 0, 180, 360, 1, t(0.02))
    cv2.line(canvas, pt(0.3, 0.17), pt(0.7, 0.17), 1, t(0.025))  # clavicles
    for side in (-1, 1):
        shoulder = 0.5 + side * 0.22
        elbow = 0.5 + side * 0.28
        hand = 0.5 + side * 0.31
        cv2.line(canvas, pt(shoulder, 0.18), pt(elbow, 0.36), 1, t(0.035))  # humerus
        cv2.line(canvas, pt(elbow, 0.36), pt(hand, 0.52), 1, t(0.03))  # forearm
        hip = 0.5 + side * 0.1
        knee = 0.5 + side * 0.11
        cv2.line(canvas, pt(hip, 0.6), pt(knee, 0.78), 1, t(0.05))  # femur
        cv2.line(canvas, pt(knee, 0.79), pt(0.5 + side * 0.1, 0.97), 1, t(0.04))  # tibia
    cv2.ellipse(canvas, pt(0.5, 0.57), (t(0.16), int(0.05 * height)), 0, 0, 360, 1, t(0.04))  # pelvis
    return canvas


def bone_scan_views(
    rng: np.random.Generator, shape: tuple[int, int] = (256, 96), n_hotspots: int | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Anterior and posterior views of one synthetic patient.

    The posterior view is the mirror image (the patient is seen from behind) with its own
    attenuation: spine and kidneys brighter, sternum side fainter. Hotspots appear in both views.

    Returns:
        ``{"anterior": (counts, labels), "posterior": (counts, labels)}``; counts ``(H, W)`` uint16,
        labels ``(H, W)`` uint8 in the 4-segment scheme.
    """
    height, width = shape
    skeleton = _skeleton(shape).astype(bool)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    kidneys = np.zeros(shape, bool)
    for side in (-1, 1):
        kidneys |= ((y - 0.44 * height) / (0.04 * height)) ** 2 + (
            (x - (0.5 + side * 0.12) * width) / (0.05 * width)
        ) ** 2 <= 1
    bladder = ((y - 0.62 * height) / (0.025 * height)) ** 2 + ((x - 0.5 * width) / (0.06 * width)) ** 2 <= 1
    uptake = (kidneys | bladder) & ~skeleton
    bone_pixels = np.argwhere(skeleton)
    n_hotspots = int(rng.integers(1, 5)) if n_hotspots is None else n_hotspots
    hotspot = np.zeros(shape, bool)
    hot_level = np.zeros(shape, np.float32)
    for _ in range(n_hotspots):
        cy, cx = bone_pixels[rng.integers(len(bone_pixels))]
        radius = rng.uniform(0.012, 0.025) * height
        blob = (y - cy) ** 2 + (x - cx) ** 2 <= radius**2
        hotspot |= blob
        hot_level[blob] = rng.uniform(3, 5)
    body = ((x - width / 2) / (0.42 * width)) ** 2 < 1
    views = {}
    for view in ("anterior", "posterior"):
        spine_gain = 1.0 if view == "anterior" else 1.4
        kidney_gain = 1.2 if view == "anterior" else 2.5
        activity = 0.1 * body + 1.0 * skeleton
        activity = activity * np.where(np.abs(x - width / 2) < 0.04 * width, spine_gain, 1.0)
        activity[kidneys] += kidney_gain
        activity[bladder] += 4.0
        activity = np.maximum(activity, hot_level)
        expected = cv2.GaussianBlur(activity.astype(np.float32), (0, 0), 1.0) * 40
        counts = rng.poisson(expected).astype(np.uint16)
        labels = np.zeros(shape, np.uint8)
        labels[skeleton] = BONE
        labels[uptake] = UPTAKE
        labels[hotspot] = HOTSPOT
        if view == "posterior":
            counts, labels = counts[:, ::-1], labels[:, ::-1]
        views[view] = (np.ascontiguousarray(counts), np.ascontiguousarray(labels))
    return views


def write_bone_scan_dataset(
    root: str | Path,
    n_patients: int = 4,
    shape: tuple[int, int] = (256, 96),
    fmt: str = "png",
    seed: int = 0,
    pixel_size_mm: float = 2.4,
) -> Path:
    """Writes ``images/P<nnn>_<view>.png|.dcm`` and ``labels/P<nnn>_<view>.png`` for both views.

    PNG images come with ``pixel_size.csv`` (``filename,pixel size(mm)``); DICOM images carry PixelSpacing.

    Returns:
        ``root``.
    """
    if fmt not in ("png", "dicom"):
        raise ValueError(f"fmt must be 'png' or 'dicom', got {fmt!r}")
    root = Path(root)
    rng = np.random.default_rng(seed)
    rows = ["filename,pixel size(mm)"]
    for patient in range(n_patients):
        for view, (counts, labels) in bone_scan_views(rng, shape).items():
            name = f"P{patient:03d}_{view}"
            if fmt == "png":
                write_png(root / "images" / f"{name}.png", counts)
                rows.append(f"{name}.png,{pixel_size_mm}")
            else:
                _write_nm_dicom(root / "images" / f"{name}.dcm", counts, pixel_size_mm, view)
            write_png(root / "labels" / f"{name}.png", labels)
    if fmt == "png":
        atomic_write_text(root / "pixel_size.csv", "\n".join(rows) + "\n")
    return root


def _write_nm_dicom(path: Path, counts: np.ndarray, pixel_size_mm: float, view: str) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, NuclearMedicineImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = NuclearMedicineImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = NuclearMedicineImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "NM"
    ds.SeriesDescription = view.upper()
    ds.Rows, ds.Columns = counts.shape
    ds.PixelSpacing = [pixel_size_mm, pixel_size_mm]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = counts.astype(np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
