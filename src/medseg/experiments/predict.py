"""``medseg predict``: a run's model over a folder of images, into a medseg output folder."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medseg.data.io import pixel_limit
from medseg.data.pixel_sizes import read_pixel_size_csv
from medseg.data.readers.hc18 import TEST_CSV
from medseg.data.volumes.base import voxel_limit
from medseg.errors import ConfigError, RunDirError
from medseg.experiments.rundir import OutputDir, check_output_dir
from medseg.inference.backends import open_predictor
from medseg.inference.folder import input_images, predict_folder
from medseg.inference.probabilities import save_probability_config
from medseg.inference.qc import extra_passes_wanted, load_calibration
from medseg.inference.timing import Stopwatch
from medseg.inference.volume import predict_volumes
from medseg.inference.volume_inputs import check_dicom_inputs, is_volume_input, volume_inputs
from medseg.inference.zoo import zoo_folder
from medseg.run_folder import RunFolder

FORMATS = ("nifti", "dicom-seg")


def predict_run(
    run_dir: str | Path,
    input_dir: str | Path,
    out: str | Path,
    pixel_size: str | Path | None = None,
    checkpoint: str = "best",
    tta: bool = False,
    overwrite: bool = False,
    resume: bool = False,
    postprocess_3d: bool | None = None,
    backend: str = "auto",
    threads: int | None = None,
    sliding_window: bool | None = None,
    batch_size: int | None = None,
    qc: bool | None = None,
    output_format: str = "nifti",
    save_probabilities: bool = False,
    min_lesion_volume_mm3: float | None = None,
    remove_small_lesions: bool | None = None,
    timing: Stopwatch | None = None,
    precision: str | None = None,
    scales: Sequence[float] = (1.0,),
) -> list[dict[str, Any]]:
    """Predicts every image of ``input_dir`` into ``out`` (see :func:`medseg.inference.folder.predict_folder`).

    Volumes (NIfTI, DICOM series, zips: :func:`medseg.inference.volume_inputs.is_volume_input`) go to
    :func:`medseg.inference.volume.predict_volumes`. The run, the checkpoint, the inputs and the
    pixel-size CSV are checked before ``out`` is
    created. ``out`` is a medseg output folder (:mod:`medseg.experiments.rundir`): with
    ``resume`` an interrupted prediction continues where it stopped (same run, checkpoint and
    inputs); with ``overwrite`` an earlier prediction is replaced once the new one is complete.
    With ``qc`` (default ``eval.qc``) 2D predictions carry the QC signals and, when the run has a
    calibration (``medseg evaluate RUN --split val``), the ``qc_flag``; volumes the flip QC spreads.
    The 2D signals of the flipped (and single-fold) passes are computed when ``qc`` is True, or when
    the calibrated flag uses them; with ``qc`` None (the config's ``eval.qc``) they are left empty.
    ``min_lesion_volume_mm3`` replaces the run's ``eval.min_lesion_volume_mm3`` (volumes: smaller
    lesions are counted, not listed), ``remove_small_lesions`` its ``postprocess.remove_small_lesions``
    (volumes: those lesions also taken out of the label files).
    ``output_format="dicom-seg"`` (DICOM input only) also writes a DICOM SEG per series beside
    the label NIfTI; ``save_probabilities`` keeps the class probabilities (``probabilities/``,
    :mod:`medseg.inference.probabilities`) for ``medseg ensemble``. With ``timing``, 2D images' time
    adds to that stopwatch stage by stage (volumes log theirs per volume). ``precision``: ``float32`` or
    ``bfloat16`` (PyTorch autocast; None: the model's ``infer.precision``). ``scales``: multi-scale
    inference of 2D images (the probabilities at each input scale, averaged; on PyTorch), as
    ``medseg evaluate --scales``.

    Returns:
        The rows of ``measurements.csv``.

    Raises:
        RunDirError: the run or ``out`` is refused; DataError: unreadable inputs; ConfigError: an
        unknown ``output_format``, ``dicom-seg`` for 2D images, or ``scales`` for volumes.
    """
    run_dir, input_dir, out = Path(run_dir), Path(input_dir), Path(out)
    zoo = zoo_folder(str(run_dir)) if not run_dir.exists() else None  # a zoo model's name
    size_mm = uniform_pixel_size(pixel_size)
    if size_mm is not None:
        pixel_size = None
    if output_format not in FORMATS:
        raise ConfigError(f"--format {output_format!r}: choose one of {', '.join(FORMATS)}")
    if min_lesion_volume_mm3 is not None and not (math.isfinite(min_lesion_volume_mm3) and min_lesion_volume_mm3 >= 0):
        raise ConfigError(
            f"--min-lesion-volume {min_lesion_volume_mm3}: give a volume in mm3 >= 0 (0 lists every lesion)"
        )
    volumes = is_volume_input(input_dir)
    if output_format == "dicom-seg" and not volumes:
        raise ConfigError(f"--format dicom-seg: {input_dir} holds 2D images; it needs a DICOM series (folder or zip)")
    if volumes and tuple(scales) != (1.0,):
        raise ConfigError(f"--scales: multi-scale inference is for 2D images; {input_dir} holds volumes")
    if volumes and size_mm is not None:
        raise ConfigError(f"--pixel-size {size_mm:g}: volumes are measured with the voxel size of their own header")
    if volumes:
        items = volume_inputs(input_dir)  # refuse a bad input before touching OUT
        _check_volume_headers(input_dir, run_dir, backend, checkpoint)
        if output_format == "dicom-seg":
            check_dicom_inputs(items)
    elif pixel_size is None and size_mm is None and (input_dir / TEST_CSV).is_file():
        pixel_size = input_dir / TEST_CSV
    inputs = [zoo or run_dir, input_dir, pixel_size]
    marker = check_output_dir(out, "predict", inputs, overwrite, resume)
    info = {
        "run_dir": f"zoo:{run_dir}" if zoo is not None else str(run_dir.resolve()),
        "input_dir": str(input_dir.resolve()),
        "checkpoint": checkpoint,
        "tta": tta,
        "pixel_size": str(Path(pixel_size).resolve()) if pixel_size else (f"{size_mm} mm" if size_mm else None),
        "precision": precision,
        "scales": [float(s) for s in scales],
    }
    if resume and marker is not None:
        changed = [k for k, v in info.items() if marker.get("info", {}).get(k, v) != v]
        if changed:
            raise RunDirError(f"{out}: was predicted with another {changed[0]}; resume with the same arguments")
        if marker.get("complete") and (out / "measurements.csv").is_file():
            with (out / "measurements.csv").open(newline="") as handle:
                return list(csv.DictReader(handle))
    # backend, threads, sliding_window, batch_size: see medseg.inference.backends.open_predictor
    predictor = open_predictor(
        run_dir, backend, checkpoint, tta, threads, sliding_window, batch_size, precision, scales
    )
    if min_lesion_volume_mm3 is not None:
        predictor.config.eval.min_lesion_volume_mm3 = float(min_lesion_volume_mm3)
    if remove_small_lesions is not None:
        predictor.config.postprocess.remove_small_lesions = bool(remove_small_lesions)
    if not volumes:
        input_images(input_dir)  # a folder without images fails here, before the output exists
    if pixel_size is not None:
        read_pixel_size_csv(Path(pixel_size))
    with OutputDir.create(out, "predict", inputs, overwrite, resume, info=info) as output:
        if save_probabilities:
            save_probability_config(output.work, predictor.config)
        if volumes:
            with voxel_limit(predictor.config.data.max_voxels), pixel_limit(predictor.config.data.max_pixels):
                return predict_volumes(
                    predictor,
                    input_dir,
                    output.work,
                    postprocess_3d,
                    output_format == "dicom-seg",
                    save_probabilities,
                    qc,
                )
        asked = qc
        qc = predictor.config.eval.qc if qc is None else qc
        calibration = load_calibration(run_dir) if qc and run_dir.is_dir() else None
        return predict_folder(
            predictor,
            input_dir,
            output.work,
            pixel_size,
            pixel_size_mm=size_mm,
            resume=resume,
            qc=qc,
            calibration=calibration,
            save_probabilities=save_probabilities,
            timing=timing,
            qc_passes=extra_passes_wanted(asked, calibration),
        )


def uniform_pixel_size(given: str | Path | None) -> float | None:
    """``--pixel-size`` given as a number (mm, for every image) rather than a CSV; None otherwise.

    Raises:
        ConfigError: a number that is not a finite size above 0.
    """
    if given is None or Path(given).exists():
        return None
    try:
        size = float(str(given))
    except ValueError:
        return None
    if not (math.isfinite(size) and size > 0):
        raise ConfigError(f"--pixel-size {given}: give a pixel size in mm above 0, or a CSV of them")
    return size


def _check_volume_headers(input_dir: Path, run_dir: Path, backend: str, checkpoint: str) -> None:
    """NIfTI headers within ``data.max_voxels`` before the output folder exists (the data is not read)."""
    from medseg.data.volumes.nifti import open_nifti

    nifti = [source for _, source in volume_inputs(input_dir) if str(source).endswith((".nii", ".nii.gz"))]
    if not nifti:
        return
    limit = None
    if Path(run_dir).is_dir() and RunFolder(run_dir).config.is_file():
        from medseg.config import load_config

        try:
            limit = load_config(RunFolder(run_dir).config).data.max_voxels
        except Exception:  # noqa: BLE001 - the run is checked again when it is opened
            limit = None
    with voxel_limit(limit):
        for source in nifti:
            open_nifti(Path(source))
