"""Predicting a folder of native images: masks, overlays and ``measurements.csv``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from medseg.data.io import list_images, read_image, write_png
from medseg.data.pixel_sizes import read_pixel_sizes
from medseg.errors import DataError
from medseg.inference import Predictor
from medseg.io import write_table
from medseg.measure.head_circumference import head_circumference, measure_ellipse
from medseg.reports.overlays import overlay

HC18_COLUMNS = ["center_x_mm", "center_y_mm", "semi_axes_a_mm", "semi_axes_b_mm", "angle_rad"]


def input_images(input_dir: Path) -> list[Path]:
    """Images to predict: ``input_dir/*`` (or its HC18 ``test_set/``), annotation files skipped."""
    folder = input_dir / "test_set" if (input_dir / "test_set").is_dir() else input_dir
    images = [p for p in list_images(folder) if not p.stem.endswith("_Annotation")]
    if not images:
        raise DataError(folder, "no images to predict (only annotation files)")
    return images


def predict_folder(
    predictor: Predictor, input_dir: str | Path, out_dir: str | Path, pixel_size_csv: str | Path | None = None
) -> list[dict[str, Any]]:
    """Writes ``out_dir/masks/<name>.png`` (at the input size), ``out_dir/overlays/<name>.png`` and
    ``out_dir/measurements.csv``.

    For a head circumference config, the CSV has ``filename, hc_mm`` and the HC18 submission
    columns (``center_x_mm, center_y_mm, semi_axes_a_mm, semi_axes_b_mm, angle_rad``); sizes in
    mm need ``pixel_size_csv`` (HC18 format), otherwise they are given in pixels (pixel size 1).

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
    rows = []
    for path in input_images(input_dir):
        if sizes and path.name not in sizes:
            raise DataError(pixel_size_csv, f"no row for {path.name}")
        image = read_image(path, color=color)
        prediction = predictor.predict(image)
        write_png(out_dir / "masks" / f"{path.stem}.png", (prediction.mask * binary_scale).astype(np.uint8))
        write_png(out_dir / "overlays" / f"{path.stem}.png", overlay(image, prediction.mask))
        pixel_size = sizes.get(path.name, 1.0)
        row: dict[str, Any] = {"filename": path.name, "pixel_size_mm": pixel_size if sizes else math.nan}
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
    write_table(out_dir / "measurements.csv", rows)
    return rows
