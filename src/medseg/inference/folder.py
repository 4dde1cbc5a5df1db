"""Predicting a folder of native images: masks, overlays and ``measurements.csv``."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from medseg.data.inputs import list_inputs, read_inputs
from medseg.data.io import write_png
from medseg.data.pixel_sizes import read_pixel_sizes
from medseg.errors import DataError
from medseg.inference import Predictor
from medseg.io import atomic_write_text, write_table
from medseg.measure.head_circumference import head_circumference, measure_ellipse
from medseg.measure.nodules import largest_nodule
from medseg.reports.overlays import overlay

PROGRESS = ".progress"  # per-image rows of an unfinished prediction
HC18_COLUMNS = ["center_x_mm", "center_y_mm", "semi_axes_a_mm", "semi_axes_b_mm", "angle_rad"]


def input_images(input_dir: Path) -> list[Path]:
    """Files to predict: ``input_dir/*`` (or its HC18 ``test_set/``), annotation files skipped.

    Images, DICOM files and NumPy arrays (:mod:`medseg.data.inputs`).
    """
    folder = input_dir / "test_set" if (input_dir / "test_set").is_dir() else input_dir
    images = [p for p in list_inputs(folder) if not p.stem.endswith("_Annotation")]
    if not images:
        raise DataError(folder, "no images to predict (only annotation files)")
    return images


def predict_folder(
    predictor: Predictor,
    input_dir: str | Path,
    out_dir: str | Path,
    pixel_size_csv: str | Path | None = None,
    resume: bool = False,
) -> list[dict[str, Any]]:
    """Writes ``out_dir/masks/<name>.png`` (at the input size), ``out_dir/overlays/<name>.png`` and
    ``out_dir/measurements.csv``.

    For a head circumference config, the CSV has ``filename, hc_mm`` and the HC18 submission
    columns (``center_x_mm, center_y_mm, semi_axes_a_mm, semi_axes_b_mm, angle_rad``); sizes in
    mm need ``pixel_size_csv`` (HC18 format), otherwise they are given in pixels (pixel size 1).

    Each finished image leaves its row in ``out_dir/.progress/<name>.json`` until the CSV is
    written; with ``resume``, images with such a row are not predicted again.

    Returns:
        The rows of ``measurements.csv``.
    """
    input_dir, out_dir = Path(input_dir), Path(out_dir)
    sizes = {}
    if pixel_size_csv is not None:
        sizes = read_pixel_sizes(Path(pixel_size_csv))
    config = predictor.config
    color = config.data.channels == 3
    binary_scale = 255 if config.data.num_classes == 2 else 1
    images = input_images(input_dir)
    missing = [p.name for p in images if sizes and p.name not in sizes]
    if missing:
        raise DataError(
            pixel_size_csv, f"no row for {missing[0]}" + (f" (and {len(missing) - 1} more)" if missing[1:] else "")
        )
    progress = out_dir / PROGRESS
    rows = []
    for path, item in _inputs(images, color, config.data.layout, config.data.max_pixels):
        done = progress / f"{item.name}.json"
        if resume and done.is_file():
            rows.append(json.loads(done.read_text()))
            continue
        image = item.image
        prediction = predictor.predict(image)
        write_png(out_dir / "masks" / f"{item.name}.png", (prediction.mask * binary_scale).astype(np.uint8))
        write_png(out_dir / "overlays" / f"{item.name}.png", overlay(image, prediction.mask))
        known = sizes.get(path.name, item.spacing_mm[1] if item.spacing_mm else None)
        pixel_size = 1.0 if known is None else known
        row: dict[str, Any] = {"filename": path.name, "image": item.name}
        row["pixel_size_mm"] = math.nan if known is None else known
        if "nodules" in config.eval.measurements:
            spacing = None if known is None else (known, known)
            measured = largest_nodule(prediction.mask > 0, spacing)
            row["nodules"] = measured.pop("nodules")
            row.update({f"largest_nodule_{k}": v for k, v in measured.items()})
        for label, name in enumerate(config.data.class_names[1:], start=1):
            row[f"area_{name}_mm2"] = float(np.count_nonzero(prediction.mask == label)) * pixel_size**2
        if "head_circumference" in config.eval.measurements:
            measured = (
                measure_ellipse(prediction.ellipse, pixel_size)
                if prediction.ellipse is not None
                else head_circumference(prediction.mask == 1, pixel_size)
            )
            values = measured.as_row() if measured else {"hc_mm": math.nan, **{c: math.nan for c in HC18_COLUMNS}}
            row.update(values)
        rows.append(row)
        atomic_write_text(done, json.dumps(row))
    write_table(out_dir / "measurements.csv", rows)
    shutil.rmtree(progress, ignore_errors=True)
    return rows


def _inputs(paths: list[Path], color: bool, layout: str, max_pixels: int | None):
    """``(file, InputImage)`` for every image of every file (a multi-frame DICOM gives several)."""
    for path in paths:
        for item in read_inputs(path, color=color, layout=layout, max_pixels=max_pixels):
            yield path, item
