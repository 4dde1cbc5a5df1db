"""Class probabilities kept beside a prediction (``medseg predict --save-probabilities``), for ensembles.

A prediction folder gets ``probabilities/<name>.npz`` per image or volume and
``probabilities/config.yaml`` (the run's config: class names, post-processing, measurements).
Each ``.npz`` holds:

- ``probabilities``: float16, ``(C, H, W)`` for an image, ``(C, Z, Y, X)`` for a volume, in the
  input's own geometry (what the labels were taken from, before post-processing);
- ``kind``: ``"image"`` or ``"volume"``; ``name`` (the output's name); ``source`` (the input file);
- images: ``spacing_mm`` (the pixel size, NaN when unknown);
- volumes: ``affine`` (``(4, 4)`` RAS, voxel ``(x, y, z)``, as :class:`medseg.data.volumes.base.Volume`).
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from medseg.config import Config, load_config, save_config
from medseg.data.volumes.base import Volume
from medseg.errors import DataError
from medseg.io import atomic_write_bytes
from medseg.run_folder import CONFIG as CONFIG_FILE

FOLDER = "probabilities"
CONFIG = CONFIG_FILE  # the configuration beside the probabilities, named as in a run


def _write(path: Path, **arrays: Any) -> Path:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def save_probability_config(out_dir: str | Path, config: Config) -> Path:
    """Writes ``out_dir/probabilities/config.yaml`` (what an ensemble needs to finish the masks)."""
    path = Path(out_dir) / FOLDER / CONFIG
    path.parent.mkdir(parents=True, exist_ok=True)
    save_config(config, path)
    return path


def save_image_probabilities(
    out_dir: str | Path, name: str, source: str, probabilities: np.ndarray, spacing_mm: float | None
) -> Path:
    """Writes one image's ``(C, H, W)`` probabilities as ``out_dir/probabilities/<name>.npz`` (float16)."""
    return _write(
        Path(out_dir) / FOLDER / f"{name}.npz",
        probabilities=probabilities.astype(np.float16),
        kind="image",
        name=name,
        source=source,
        spacing_mm=math.nan if spacing_mm is None else float(spacing_mm),
    )


def save_volume_probabilities(out_dir: str | Path, name: str, probabilities: np.ndarray, volume: Volume) -> Path:
    """Writes one volume's ``(C, Z, Y, X)`` probabilities as ``out_dir/probabilities/<name>.npz`` (float16)."""
    return _write(
        Path(out_dir) / FOLDER / f"{name}.npz",
        probabilities=probabilities.astype(np.float16),
        kind="volume",
        name=name,
        source=str(volume.source or ""),
        affine=np.asarray(volume.affine, dtype=np.float64),
    )


def load_probabilities(path: str | Path) -> dict[str, Any]:
    """Reads one ``.npz`` written here: arrays as NumPy, ``kind``/``name``/``source`` as str, ``spacing_mm`` float.

    Raises:
        DataError: not such a file (unreadable, or a key missing).
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            values = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(path, f"not a probabilities file ({exc})") from None
    if "probabilities" not in values or "kind" not in values:
        raise DataError(path, "not a probabilities file written by medseg predict --save-probabilities")
    for key in ("kind", "name", "source"):
        if key in values:
            values[key] = str(values[key])
    if "spacing_mm" in values:
        values["spacing_mm"] = float(values["spacing_mm"])
    return values


def probability_files(pred_dir: str | Path) -> dict[str, Path]:
    """``{name: path}`` of a prediction folder's ``probabilities/*.npz``.

    Raises:
        DataError: the folder has no probabilities (predicted without ``--save-probabilities``).
    """
    folder = Path(pred_dir) / FOLDER
    files = sorted(folder.glob("*.npz")) if folder.is_dir() else []
    if not files or not (folder / CONFIG).is_file():
        raise DataError(pred_dir, "no probabilities/ folder: predict with --save-probabilities first")
    return {path.stem: path for path in files}


def probability_config(pred_dir: str | Path) -> Config:
    """The run config saved with a prediction folder's probabilities."""
    return load_config(Path(pred_dir) / FOLDER / CONFIG)
