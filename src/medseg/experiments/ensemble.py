"""``medseg ensemble``: several prediction folders' probabilities averaged into masks and measurements.

As ``nnUNetv2_ensemble``: each folder comes from ``medseg predict --save-probabilities`` over the
same inputs (by different runs, folds or checkpoints). The output is a prediction folder of its
own: 2D images give ``masks/<name>.png`` and ``measurements.csv``; volumes give
``labels/<name>.nii.gz`` (in the stored geometry), ``volumes.csv`` and the lesion table, with the
same columns ``medseg predict`` writes. Labels are the argmax of the mean probabilities, then the
first folder's run config post-processing (2D, and 3D for volumes when ``postprocess.volume_3d``).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from medseg.config import Config
from medseg.data.io import write_png
from medseg.data.volumes.base import Volume
from medseg.data.volumes.nifti import save_nifti
from medseg.errors import ConfigError, DataError
from medseg.experiments.rundir import OutputDir
from medseg.inference.folder import measurement_row
from medseg.inference.postprocess import postprocess, probabilities_to_labels
from medseg.inference.predictor import Prediction
from medseg.inference.probabilities import CONFIG, FOLDER, load_probabilities, probability_config, probability_files
from medseg.inference.volume import finish_volume, measure_volume, volume_row, write_volume_tables
from medseg.io import write_table
from medseg.logs import log, progress


def check_folders(pred_dirs: list[Path]) -> tuple[list[dict[str, Path]], Config]:
    """The probability files of each folder and the first folder's config, after checking they match.

    Raises:
        ConfigError: fewer than two folders.
        DataError: a folder without probabilities, different class names (names its config), or a
            case one folder has and another lacks (names the file).
    """
    if len(pred_dirs) < 2:
        raise ConfigError("medseg ensemble: give at least two prediction folders")
    files = [probability_files(d) for d in pred_dirs]
    configs = [probability_config(d) for d in pred_dirs]
    classes = list(configs[0].data.class_names)
    for pred_dir, files_here, config in zip(pred_dirs[1:], files[1:], configs[1:], strict=True):
        if list(config.data.class_names) != classes:
            raise DataError(
                pred_dir / FOLDER / CONFIG,
                f"classes {list(config.data.class_names)} differ from {classes} of {pred_dirs[0]}",
            )
        for name in sorted(set(files[0]) ^ set(files_here)):
            lacking = pred_dir if name in files[0] else pred_dirs[0]
            raise DataError(lacking / FOLDER / f"{name}.npz", "missing: the folders must predict the same inputs")
    return files, configs[0]


def mean_probabilities(paths: list[Path]) -> tuple[np.ndarray, dict[str, Any]]:
    """The float32 mean of one case's probabilities over the folders, and the first file's metadata.

    Raises:
        DataError: a file whose kind or shape differs from the first's (names the file).
    """
    first = load_probabilities(paths[0])
    total = first["probabilities"].astype(np.float32)
    for path in paths[1:]:
        other = load_probabilities(path)
        if other["kind"] != first["kind"] or other["probabilities"].shape != total.shape:
            raise DataError(
                path,
                f"{other['kind']} probabilities of shape {other['probabilities'].shape} differ from "
                f"{first['kind']} {total.shape} in {paths[0]}",
            )
        total += other["probabilities"].astype(np.float32)
    return total / len(paths), first


def ensemble_predictions(pred_dirs: list[str | Path], out: str | Path, overwrite: bool = False) -> list[dict[str, Any]]:
    """Averages the probabilities of several prediction folders into ``out`` (see the module docstring).

    Returns:
        The rows of ``measurements.csv`` (images) or ``volumes.csv`` (volumes).

    Raises:
        ConfigError, DataError: see :func:`check_folders`, :func:`mean_probabilities`;
        RunDirError: ``out`` refused (:mod:`medseg.experiments.rundir`).
    """
    pred_dirs = [Path(d) for d in pred_dirs]
    files, config = check_folders(pred_dirs)
    info = {"ensemble": [str(d.resolve()) for d in pred_dirs]}
    rows: list[dict[str, Any]] = []
    lesion_rows: list[dict[str, Any]] = []
    volumes = False
    with OutputDir.create(out, "predict", pred_dirs, overwrite, info=info) as output:
        for name in progress(sorted(files[0]), desc="ensemble", unit="case"):
            probabilities, meta = mean_probabilities([f[name] for f in files])
            if meta["kind"] == "volume":
                volumes = True
                row, lesions = _volume(output.work, name, probabilities, meta, config)
                rows.append(row)
                lesion_rows += lesions
            else:
                rows.append(_image(output.work, name, probabilities, meta, config))
        if volumes:
            write_volume_tables(output.work, rows, lesion_rows, list(config.data.class_names))
        else:
            write_table(output.work / "measurements.csv", rows)
    log(f"{len(rows)} case(s) from {len(pred_dirs)} prediction folders -> {out}")
    return rows


def _image(out_dir: Path, name: str, probabilities: np.ndarray, meta: dict[str, Any], config: Config) -> dict:
    labels = probabilities_to_labels(probabilities, config.postprocess)
    mask, ellipse = postprocess(labels, config.postprocess, config.data.num_classes)
    scale = 255 if config.data.num_classes == 2 else 1
    write_png(out_dir / "masks" / f"{name}.png", (mask * scale).astype(np.uint8))
    spacing = meta.get("spacing_mm")
    known = None if spacing is None or np.isnan(spacing) else spacing
    return measurement_row(meta["source"], name, Prediction(mask, probabilities, ellipse), config, known)


def _volume(
    out_dir: Path, name: str, probabilities: np.ndarray, meta: dict[str, Any], config: Config
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    labels = probabilities_to_labels(probabilities, config.postprocess)
    for k in range(labels.shape[0]):
        labels[k] = postprocess(labels[k], config.postprocess, config.data.num_classes)[0]
    volume = Volume(labels, np.asarray(meta["affine"]), Path(meta["source"]) if meta["source"] else None)
    labels = finish_volume(SimpleNamespace(config=config), labels, spacing_zyx=volume.spacing_zyx)
    volume.array = labels
    save_nifti(labels.transpose(2, 1, 0), volume.affine, out_dir / "labels" / f"{name}.nii.gz", np.uint8)
    measurements, lesions = measure_volume(
        labels, volume, list(config.data.class_names), config.eval.min_lesion_volume_mm3
    )
    row = volume_row(name, meta["source"], volume, labels.shape[0], measurements)
    return row, [{"volume": name, **lesion} for lesion in lesions]
