"""Predicting a folder of native images: masks, overlays and ``measurements.csv``."""

from __future__ import annotations

import json
import logging
import shutil
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from medseg.data.inputs import INPUT_SUFFIXES, list_inputs, read_inputs
from medseg.data.io import write_png
from medseg.data.pixel_sizes import read_pixel_sizes
from medseg.data.transforms import crop_problem
from medseg.errors import DataError
from medseg.inference.input_scale import input_problem
from medseg.inference.measurements import HC18_COLUMNS, image_measurements
from medseg.inference.predictor import Predictor
from medseg.inference.probabilities import save_image_probabilities
from medseg.inference.qc import QCCalibration, qc_signals
from medseg.inference.timing import Stopwatch, stage
from medseg.inference.writer import BackgroundWriter
from medseg.io import atomic_write_text, write_table
from medseg.logs import log
from medseg.logs import progress as progress_lines
from medseg.measure.nodules import largest_nodule, measure_nodules
from medseg.measure.units import is_known, lengths_in_pixels
from medseg.reports.overlays import overlay

PROGRESS = ".progress"  # per-image rows of an unfinished prediction
NODULES_CSV = "nodules.csv"  # one row per predicted nodule (measurement "nodules")
NODULE_ROWS = "_nodules"  # an image row's nodule rows until nodules.csv is written
__all__ = ["HC18_COLUMNS", "input_images", "predict_folder"]


def input_images(input_dir: Path) -> list[Path]:
    """Files to predict: ``input_dir/*`` (or its HC18 ``test_set/``), annotation files skipped;
    ``input_dir`` may also be a single image file.

    Images, DICOM files and NumPy arrays (:mod:`medseg.data.inputs`).
    """
    if input_dir.is_file():
        if input_dir.suffix.lower() not in INPUT_SUFFIXES:
            raise DataError(input_dir, f"not an input medseg reads ({', '.join(INPUT_SUFFIXES)})")
        return [input_dir]
    folder = input_dir / "test_set" if (input_dir / "test_set").is_dir() else input_dir
    images = [p for p in list_inputs(folder) if not p.stem.endswith("_Annotation")]
    if not images:
        raise DataError(folder, "no images to predict (only annotation files)")
    return images


def _write_images(out_dir: Path, name: str, image: np.ndarray, mask: np.ndarray, binary_scale: int) -> None:
    """``out_dir/masks/<name>.png`` (labels, or 0/255 for one foreground class) and
    ``out_dir/overlays/<name>.png`` of one ``(H, W)`` predicted mask on its native image."""
    write_png(out_dir / "masks" / f"{name}.png", (mask * binary_scale).astype(np.uint8))
    write_png(out_dir / "overlays" / f"{name}.png", overlay(image, mask))


def predict_folder(
    predictor: Predictor,
    input_dir: str | Path,
    out_dir: str | Path,
    pixel_size_csv: str | Path | None = None,
    pixel_size_mm: float | None = None,
    resume: bool = False,
    progress_bar: bool = True,
    qc: bool = False,
    calibration: QCCalibration | None = None,
    save_probabilities: bool = False,
    timing: Stopwatch | None = None,
    qc_passes: bool = True,
) -> list[dict[str, Any]]:
    """Writes ``out_dir/masks/<name>.png`` (at the input size), ``out_dir/overlays/<name>.png`` and
    ``out_dir/measurements.csv``; images go through the network ``predictor.batch_size`` at a time.

    For a head circumference config, the CSV has ``filename, hc_mm`` and the HC18 submission
    columns (``center_x_mm, center_y_mm, semi_axes_a_mm, semi_axes_b_mm, angle_rad``). Sizes are
    in mm only for images with a known pixel size (``pixel_size_csv`` in HC18 format,
    ``pixel_size_mm`` for every image, or the DICOM pixel spacing); the others are measured in
    pixels and their columns say so (``hc_px``, ``area_<class>_px2``...: :mod:`medseg.measure.units`).

    With ``save_probabilities`` the class probabilities go to ``out_dir/probabilities/<name>.npz``
    (:mod:`medseg.inference.probabilities`), for ``medseg ensemble``.

    Each finished image leaves its row in ``out_dir/.progress/<name>.json`` until the CSV is
    written; with ``resume``, images with such a row are not predicted again.

    With ``qc`` each row holds the QC signals (:func:`medseg.inference.qc.qc_signals`; those of the
    flipped and single-fold passes only with ``qc_passes``); with a ``calibration`` also ``qc_score``
    and ``qc_flag``, and flagged images come first in the CSV.

    With ``timing``, the images' time adds to that stopwatch, stage by stage (read, preprocess, network,
    postprocess, measure, write: :mod:`medseg.inference.timing`; the QC's flipped passes count as
    preprocess, network and postprocess, the rest of the QC as ``other``). The image files are encoded
    and written on a second thread (:class:`~medseg.inference.writer.BackgroundWriter`) while the next
    images are predicted; ``write`` is the time the loop waited for it.

    Returns:
        The rows of ``measurements.csv``.
    """
    input_dir, out_dir = Path(input_dir), Path(out_dir)
    sizes = {}
    if pixel_size_csv is not None:
        sizes = read_pixel_sizes(Path(pixel_size_csv))
    config = predictor.config
    binary_scale = 255 if config.data.num_classes == 2 else 1
    images = input_images(input_dir)
    if pixel_size_mm is not None:
        sizes = {p.name: float(pixel_size_mm) for p in images}
    missing = [p.name for p in images if sizes and p.name not in sizes]
    if missing:
        raise DataError(
            pixel_size_csv, f"no row for {missing[0]}" + (f" (and {len(missing) - 1} more)" if missing[1:] else "")
        )
    progress = out_dir / PROGRESS
    done_rows: dict[str, list[dict[str, Any]]] = {}
    for path in images:
        done = progress / f"{path.name}.json"
        if resume and done.is_file():
            saved = _saved_rows(done)
            if saved is not None:  # a row cut short by the interruption: the image is predicted again
                done_rows[path.name] = saved
    todo = [path for path in images if path.name not in done_rows]
    slid = 0  # images a native-crop model predicted window by window
    desc = f"predict ({predictor.backend})"
    watch = timing.running() if timing is not None else nullcontext()
    bar_lines = progress_lines(total=len(images), initial=len(done_rows), desc=desc, unit="file", enabled=progress_bar)
    with bar_lines as bar, watch, BackgroundWriter() as writer:
        for start in range(0, len(todo), predictor.batch_size):
            chunk = todo[start : start + predictor.batch_size]
            with stage("read"):
                items = [
                    (path, item)
                    for path in chunk
                    for item in read_images(path, config, predictor.sliding_window, sizes.get(path.name))
                ]
            arrays = [item.image for _, item in items]
            slid += sum(predictor.native_crop not in (None, tuple(array.shape[:2])) for array in arrays)
            last = {path.name: index for index, (path, _) in enumerate(items)}  # a file's last image
            for index, ((path, item), prediction) in enumerate(
                zip(items, predictor.predict_batch(arrays), strict=True)
            ):
                writer.submit(_write_images, out_dir, item.name, item.image, prediction.mask, binary_scale)
                known = sizes.get(path.name) if sizes else (item.spacing_mm[1] if item.spacing_mm else None)
                known = known if is_known(known) else None
                row = image_row(
                    predictor, item.image, prediction, path.name, item.name, known, qc, calibration, qc_passes
                )
                if "nodules" in config.eval.measurements:
                    with stage("measure"):
                        row[NODULE_ROWS] = nodule_rows(prediction.mask, path.name, item.name, known)
                if save_probabilities:
                    probabilities = prediction.probabilities
                    writer.submit(save_image_probabilities, out_dir, item.name, path.name, probabilities, known)
                done_rows.setdefault(path.name, []).append(row)
                if last[path.name] == index:  # the file is done (once its images are): a resumed prediction skips it
                    writer.submit(atomic_write_text, progress / f"{path.name}.json", json.dumps(done_rows[path.name]))
            bar.update(len(chunk))
    rows = [row for path in images for row in done_rows.get(path.name, [])]
    if predictor.native_crop is not None and slid:
        crop = "x".join(str(v) for v in predictor.native_crop)
        log(
            f"{slid} image(s) larger than the model's {crop} training crops were predicted window by window: "
            "the model was trained on crops centred on nodules and marks false nodules elsewhere in a whole "
            "slice (docs/studies.md); review nodules.csv",
            logging.WARNING,
        )
    if qc and calibration is not None:
        rows.sort(key=lambda r: r["qc_flag"] != "review")  # stable: flagged first, otherwise input order
    nodules = [nodule for row in rows for nodule in row.pop(NODULE_ROWS, [])]
    with timing.running() if timing is not None else nullcontext(), stage("write"):
        if "nodules" in config.eval.measurements:
            if nodules:
                write_table(out_dir / NODULES_CSV, nodules)
            else:  # no nodule anywhere: the header alone
                atomic_write_text(out_dir / NODULES_CSV, "filename,image,nodule\n")
        write_table(out_dir / "measurements.csv", rows)
        shutil.rmtree(progress, ignore_errors=True)
    return rows


def _saved_rows(path: Path) -> list[dict[str, Any]] | None:
    """The rows an interrupted prediction saved for one file, or None when the file is cut short or damaged."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    rows = saved if isinstance(saved, list) else [saved]
    return rows if rows and all(isinstance(row, dict) and "filename" in row for row in rows) else None


def measurement_row(filename: str, name: str, prediction: Any, config: Any, known: float | None) -> dict[str, Any]:
    """One ``measurements.csv`` row: ``filename``, ``image``, then the config's measurements.

    Args:
        prediction: a :class:`medseg.inference.predictor.Prediction` (mask, probabilities, ellipse).
        known: the pixel size in mm (None: measurements in pixels).
    """
    row: dict[str, Any] = {"filename": filename, "image": name}
    row.update(image_measurements(prediction, config, known))
    if "nodules" in config.eval.measurements:
        measured = largest_nodule(prediction.mask > 0, None if known is None else (known, known))
        row["nodules"] = measured.pop("nodules")
        row.update({f"largest_nodule_{k}": v for k, v in measured.items()})
    return row


def nodule_rows(mask: np.ndarray, filename: str, name: str, known: float | None) -> list[dict[str, Any]]:
    """One row per predicted nodule of an ``(H, W)`` mask: ``filename``, ``image``, then the sizes and
    centre of :func:`medseg.measure.nodules.measure_nodules` (mm with a pixel size, px without)."""
    spacing = None if known is None else (known, known)
    return [{"filename": filename, "image": name, **row} for row in measure_nodules(mask > 0, spacing)]


def image_row(
    predictor: Predictor,
    image: np.ndarray,
    prediction: Any,
    filename: str,
    name: str,
    known: float | None,
    qc: bool,
    calibration: QCCalibration | None = None,
    qc_passes: bool = True,
) -> dict[str, Any]:
    """The ``measurements.csv`` row of one predicted image: :func:`measurement_row`, then with ``qc``
    the QC signals (lengths in px without a pixel size; the flipped and single-fold passes' only with
    ``qc_passes``) and, with a ``calibration``, ``qc_score``/``qc_flag``."""
    with stage("measure"):
        row = measurement_row(filename, name, prediction, predictor.config, known)
    if qc:
        signals = qc_signals(predictor, image, prediction, known or 1.0, qc_passes)
        row.update(signals if known is not None else lengths_in_pixels(signals))
        if calibration is not None:
            row["qc_score"], row["qc_flag"] = calibration.score(row), calibration.flag(row)
    return row


def read_images(
    path: Path, config: Any, sliding_window: bool | None = None, pixel_size_mm: float | None = None
) -> list[Any]:
    """The image(s) of one input file as the model reads them (a multi-frame DICOM gives several;
    :mod:`medseg.data.inputs`), refused when the model's crop would remove a whole image, or when a
    model trained on native-resolution crops could not take it at its training scale
    (:func:`medseg.inference.input_scale.input_problem`; ``sliding_window``: the predictor's setting,
    None: ``infer.sliding_window``; ``pixel_size_mm``: the size given for the file, else its own)."""
    color = config.data.channels == 3
    sliding_window = config.infer.sliding_window if sliding_window is None else sliding_window
    items = read_inputs(Path(path), color=color, layout=config.data.layout, max_pixels=config.data.max_pixels)
    for item in items:
        problem = crop_problem(item.image.shape, config.data.crop)
        if problem:
            raise DataError(path, f"{problem} (the model's setting)")
        known = pixel_size_mm if pixel_size_mm is not None else (item.spacing_mm[1] if item.spacing_mm else None)
        problem = input_problem(config, item.image.shape, sliding_window, known if is_known(known) else None)
        if problem:
            raise DataError(path, problem)
    return items
