"""Prediction on 3D volumes: a 2D predictor run slice by slice, 3D post-processing, labels written in the
input's geometry, organ and lesion volumes measured.

Inputs (:func:`medseg.inference.volume_inputs.volume_inputs`): a NIfTI file, a folder of NIfTI files
(``segmentation-*`` files skipped), a DICOM series folder or zip, or a 3D-IRCADb patient folder (its
``PATIENT_DICOM.zip`` or ``PATIENT_DICOM/``) or a folder of such patients.

For a server or a script, :func:`segment_and_measure` takes one :class:`Volume` or path and returns
the labels and the measurements; :func:`predict_volumes` does a whole input into a folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medseg.data.volumes import load_volume
from medseg.data.volumes.base import Volume
from medseg.data.volumes.dicom import write_prediction_for_dicom
from medseg.data.volumes.dicom_seg import write_dicom_seg
from medseg.data.volumes.nifti import is_nifti, nifti_stem, open_nifti, save_nifti, write_prediction_nifti
from medseg.inference.postprocess import postprocess_volume, small_lesion_minimum
from medseg.inference.probabilities import save_volume_probabilities
from medseg.inference.timing import Stopwatch, stage
from medseg.inference.volume_inputs import (  # noqa: F401 - is_volume_input: re-exported, callers import it here
    check_dicom_inputs,
    is_volume_input,
    unique_names,
    volume_inputs,
)
from medseg.inference.volume_qc import volume_qc
from medseg.io import atomic_write_text, write_table
from medseg.logs import log, progress
from medseg.measure.volumes import label_roles, measure_label_volume
from medseg.output_files import inside, safe_name


@dataclass
class VolumeResult:
    """One predicted volume.

    Attributes:
        name: the volume's name in tables and file names.
        labels: ``(Z, Y, X)`` uint8 labels in the :class:`Volume`'s slice order.
        volume: the input volume (``array`` ``(Z, Y, X)``, ``affine``).
        measurements: the ``volumes.csv`` columns (:func:`medseg.measure.volumes.measure_label_volume`).
        lesions: one row per listed lesion (volume, diameter, centre; see :mod:`medseg.measure.volumes`).
        label_path: the written label NIfTI, if any.
        probabilities: ``(C, Z, Y, X)`` float16, when asked for.
        timing: seconds per stage of :func:`predict_volumes` (:mod:`medseg.inference.timing`).
    """

    name: str
    labels: np.ndarray
    volume: Volume
    measurements: dict[str, Any] = field(default_factory=dict)
    lesions: list[dict[str, Any]] = field(default_factory=list)
    label_path: Path | None = None
    probabilities: np.ndarray | None = None
    timing: Stopwatch | None = None


def _class_names(predictor: Any, num_classes: int) -> list[str]:
    config = getattr(predictor, "config", None)
    if config is not None:
        return list(config.data.class_names)
    return ["background"] + [f"class{k}" for k in range(1, num_classes)]


def predict_slices(
    predictor: Any, volume: Volume, keep_probabilities: bool = False, desc: str = "slices"
) -> tuple[np.ndarray, np.ndarray | None]:
    """Labels of every axial slice, ``predictor.batch_size`` slices per forward pass, with a progress bar.

    Returns:
        ``(Z, Y, X)`` uint8 labels (after the config's 2D post-processing) and, with
        ``keep_probabilities``, the ``(C, Z, Y, X)`` float16 probabilities (else None).
    """
    if hasattr(predictor, "predict_volume_slices"):  # a cascade (medseg.inference.cascade): its two stages
        return predictor.predict_volume_slices(volume, keep_probabilities, desc)
    depth = volume.array.shape[0]
    labels = np.zeros(volume.array.shape[:3], dtype=np.uint8)
    probabilities = None
    batch = max(1, int(getattr(predictor, "batch_size", 1) or 1))
    batched = hasattr(predictor, "predict_batch")
    with progress(total=depth, desc=desc, unit="slice") as bar:
        for start in range(0, depth, batch):
            slices = [volume.array[k] for k in range(start, min(start + batch, depth))]
            predictions = predictor.predict_batch(slices) if batched else [predictor.predict(s) for s in slices]
            for offset, prediction in enumerate(predictions):
                labels[start + offset] = prediction.mask
                if keep_probabilities:
                    if probabilities is None:
                        shape = (prediction.probabilities.shape[0], *labels.shape)
                        probabilities = np.zeros(shape, dtype=np.float16)
                    probabilities[:, start + offset] = prediction.probabilities
            bar.update(len(slices))
    return labels, probabilities


def segment_volume(
    predictor: Any, volume: Volume, postprocess_3d: bool | None = None, desc: str = "slices"
) -> np.ndarray:
    """Labels of every axial slice, then (optionally) 3D post-processing.

    Args:
        predictor: a :class:`medseg.inference.Predictor` (anything with ``predict(image).mask``); its
            config's 2D post-processing applies per slice.
        volume: ``array`` ``(Z, Y, X)`` (or ``(Z, Y, X, C)``).
        postprocess_3d: :func:`medseg.inference.postprocess.postprocess_volume`; None: the config's
            ``postprocess.volume_3d`` (off for a predictor without config).
        desc: the progress bar's label.

    Returns:
        ``(Z, Y, X)`` uint8 labels.
    """
    labels, _ = predict_slices(predictor, volume, desc=desc)
    return finish_volume(predictor, labels, postprocess_3d, volume.spacing_zyx)


def finish_volume(
    predictor: Any,
    labels: np.ndarray,
    postprocess_3d: bool | None = None,
    spacing_zyx: tuple[float, float, float] | None = None,
) -> np.ndarray:
    """The 3D post-processing of :func:`segment_volume` (``predictor``: for its config and class names);
    with ``spacing_zyx`` and the config's ``postprocess.remove_small_lesions`` also without the lesions
    under ``eval.min_lesion_volume_mm3``."""
    config = getattr(predictor, "config", None)
    if postprocess_3d is None:
        postprocess_3d = bool(config is not None and config.postprocess.volume_3d)
    if postprocess_3d:
        minimum = small_lesion_minimum(config) if config is not None else 0.0
        with stage("postprocess"):
            class_names = _class_names(predictor, int(labels.max()) + 1)
            labels = postprocess_volume(labels, class_names, spacing_zyx, minimum)
    return labels


def write_labels(labels_zyx: np.ndarray, volume: Volume, out_path: str | Path) -> Path:
    """Writes labels as NIfTI in the input's geometry: a NIfTI input's own affine and header, a DICOM
    series' affine (as ``medseg convert`` writes it)."""
    source = volume.source
    if source is not None and is_nifti(source) and Path(source).is_file():
        return write_prediction_nifti(labels_zyx, source, out_path, order="zyx")
    if source is not None and volume.meta.get("positions") is not None:
        return write_prediction_for_dicom(labels_zyx, volume, out_path)
    return save_nifti(labels_zyx.transpose(2, 1, 0), volume.affine, out_path, np.uint8)


def segment_and_measure(
    predictor: Any,
    source: Volume | str | Path,
    label_path: str | Path | None = None,
    postprocess_3d: bool | None = None,
    name: str | None = None,
    keep_probabilities: bool = False,
    qc: bool | None = None,
) -> VolumeResult:
    """Predicts one volume, measures it and (optionally) writes its label NIfTI.

    Args:
        source: a :class:`Volume`, or a NIfTI file / DICOM series folder or zip.
        label_path: ``.nii.gz`` to write the labels to (None: not written).
        postprocess_3d: see :func:`segment_volume`.
        keep_probabilities: also return the ``(C, Z, Y, X)`` float16 probabilities.
        qc: also the volume spreads of :func:`medseg.inference.volume_qc.volume_qc` (two more predictions
            of every slice, flipped); None: the config's ``eval.qc``.

    Returns:
        A :class:`VolumeResult` (labels ``(Z, Y, X)`` uint8, measurements in ml and mm, QC spreads if asked).
    """
    with stage("read"):
        volume = source if isinstance(source, Volume) else load_volume(source)
    if name is None:
        name = nifti_stem(volume.source) if volume.source is not None else "volume"
    labels, probabilities = predict_slices(predictor, volume, keep_probabilities, desc=f"{name} slices")
    labels = finish_volume(predictor, labels, postprocess_3d, volume.spacing_zyx)
    class_names = _class_names(predictor, int(labels.max()) + 1)
    with stage("measure"):
        measurements, lesions = measure_volume(
            labels, volume, class_names, min_lesion_mm3(predictor), label_grid_affine(volume)
        )
        add_dicom_instances(lesions, volume)
    config = getattr(predictor, "config", None)
    if config is not None and (config.eval.qc if qc is None else qc):
        applied_3d = config.postprocess.volume_3d if postprocess_3d is None else postprocess_3d
        with stage("qc"):
            measurements.update(volume_qc(predictor, volume.array, labels, volume.spacing_zyx, applied_3d))
    with stage("write"):
        written = write_labels(labels, volume, label_path) if label_path is not None else None
    return VolumeResult(name, labels, volume, measurements, lesions, written, probabilities)


def measure_volume(
    labels: np.ndarray,
    volume: Volume,
    class_names: list[str],
    min_lesion_mm3: float = 0.0,
    grid_affine: np.ndarray | None = None,
) -> tuple[dict, list[dict]]:
    """The ``volumes.csv`` measurements and the lesion rows of ``(Z, Y, X)`` labels on ``volume``.

    Args:
        min_lesion_mm3: smaller lesions are counted, not listed (``eval.min_lesion_volume_mm3``).
        grid_affine: the label file's affine when its voxel grid is not the volume's (see
            :func:`label_grid_affine`).
    """
    return measure_label_volume(labels, volume.spacing_zyx, class_names, volume.affine, min_lesion_mm3, grid_affine)


def add_dicom_instances(lesions: list[dict[str, Any]], volume: Volume) -> None:
    """Adds ``dicom_instance`` to each lesion row of a DICOM series: the InstanceNumber of the slice
    through its centre (``voxel_k`` rounded), the image number a DICOM viewer shows."""
    numbers = volume.meta.get("instance_numbers")
    if not numbers or len(numbers) != volume.array.shape[0]:
        return
    for lesion in lesions:
        k = min(len(numbers) - 1, max(0, round(float(lesion["voxel_k"]))))
        lesion["dicom_instance"] = int(numbers[k])


def label_grid_affine(volume: Volume) -> np.ndarray:
    """The affine of the label file :func:`write_labels` writes for ``volume``: a NIfTI input's own (its
    stored axis order), else the volume's."""
    source = volume.source
    if source is not None and is_nifti(source) and Path(source).is_file():
        return np.asarray(open_nifti(source).affine, dtype=np.float64)
    return volume.affine


def min_lesion_mm3(predictor: Any) -> float:
    """The predictor's ``eval.min_lesion_volume_mm3`` (0, every lesion listed, for a predictor without config)."""
    config = getattr(predictor, "config", None)
    return float(config.eval.min_lesion_volume_mm3) if config is not None else 0.0


def predict_volume(
    predictor: Any, input_path: str | Path, out_path: str | Path, postprocess_3d: bool | None = None
) -> tuple[Path, np.ndarray]:
    """Runs a 2D predictor slice by slice over a volume and writes the label volume as NIfTI.

    Args:
        input_path: NIfTI file (labels written with its affine and header), or DICOM series folder/zip
            (labels written aligned to the series).
        out_path: ``.nii.gz`` file to write.

    Returns:
        ``out_path`` and the ``(Z, Y, X)`` uint8 labels.
    """
    volume = load_volume(input_path)
    labels = segment_volume(predictor, volume, postprocess_3d)
    return write_labels(labels, volume, out_path), labels


def predict_volumes(
    predictor: Any,
    input_path: str | Path,
    out_dir: str | Path,
    postprocess_3d: bool | None = None,
    dicom_seg: bool = False,
    save_probabilities: bool = False,
    qc: bool | None = None,
) -> list[dict[str, Any]]:
    """Predicts every volume of an input into ``out_dir``; logs one line per volume with the time of each
    stage (:mod:`medseg.inference.timing`).

    Writes ``out_dir/labels/<name>.nii.gz`` (uint8 labels in the input's geometry), ``out_dir/volumes.csv``
    (one row per volume: ``volume``, ``input``, ``labels``, voxel size, then the measurements of
    :mod:`medseg.measure.volumes`, e.g. ``liver_ml, tumour_ml, tumour_burden_pct, n_tumours,
    largest_tumour_diameter_mm, n_tumours_below_min``) and, when the classes include a lesion class,
    ``out_dir/<lesion>s.csv`` (e.g. ``tumours.csv``: ``volume, tumour, volume_ml, diameter_mm, voxels,
    voxel_i, voxel_j, voxel_k, x_mm, y_mm, z_mm`` and for DICOM ``dicom_instance``), one row per lesion of
    at least the run's ``eval.min_lesion_volume_mm3``.

    Args:
        dicom_seg: also write ``out_dir/labels/<name>.seg.dcm``, a DICOM SEG referencing the source
            series (:mod:`medseg.data.volumes.dicom_seg`); every input must be a DICOM series.
        save_probabilities: also write ``out_dir/probabilities/<name>.npz``
            (:mod:`medseg.inference.probabilities`).
        qc: the flip QC spreads (:func:`segment_and_measure`); None: the config's ``eval.qc``.

    Returns:
        The rows of ``volumes.csv``.

    Raises:
        DataError: ``dicom_seg`` with a NIfTI input (named).
    """
    out_dir = Path(out_dir)
    items = unique_names(volume_inputs(input_path))
    if dicom_seg:
        check_dicom_inputs(items)
    rows, lesion_rows = [], []
    with progress(total=len(items), desc="volumes", unit="volume", leave=True) as bar:
        for index, (name, source) in enumerate(items, start=1):
            log(f"  volume {index}/{len(items)}: {source}")
            stem = safe_name(name, f"volume_{index}", 120)  # from the input's file name: data, never a path
            label_file = inside(out_dir / "labels", f"{stem}.nii.gz")
            watch = Stopwatch()
            with watch.running():
                result = segment_and_measure(
                    predictor, source, label_file, postprocess_3d, name, save_probabilities, qc
                )
                with stage("write"):
                    if save_probabilities and result.probabilities is not None:
                        save_volume_probabilities(out_dir, stem, result.probabilities, result.volume)
                    if dicom_seg:
                        model = getattr(getattr(predictor, "config", None), "model", None)
                        write_dicom_seg(
                            result.labels,
                            source,
                            _class_names(predictor, int(result.labels.max()) + 1),
                            inside(out_dir / "labels", f"{stem}.seg.dcm"),
                            model_name=getattr(model, "name", "medseg"),
                        )
            result.timing = watch
            log(f"  {name}: {result.labels.shape[0]} slices in {watch.summary()}")
            rows.append(volume_row(name, source, result.volume, result.labels.shape[0], result.measurements))
            rows[-1]["labels"] = f"labels/{label_file.name}"
            if dicom_seg:
                rows[-1]["dicom_seg"] = f"labels/{stem}.seg.dcm"
            lesion_rows += [{"volume": name, **lesion} for lesion in result.lesions]
            bar.update(1)
    write_volume_tables(out_dir, rows, lesion_rows, _class_names(predictor, 1))
    return rows


def volume_row(name: str, source: Any, volume: Volume, slices: int, measurements: dict[str, Any]) -> dict[str, Any]:
    """One ``volumes.csv`` row: name, input, label file, slices, voxel size, then the measurements."""
    z, y, x = volume.spacing_zyx
    return {
        "volume": name,
        "input": str(source),
        "labels": f"labels/{name}.nii.gz",
        "slices": int(slices),
        "spacing_z_mm": z,
        "spacing_y_mm": y,
        "spacing_x_mm": x,
        **measurements,
    }


def write_volume_tables(
    out_dir: Path, rows: list[dict[str, Any]], lesion_rows: list[dict[str, Any]], class_names: list[str]
) -> None:
    """Writes ``volumes.csv`` and, with a lesion class, ``<lesion>s.csv`` (a header only when none found)."""
    write_table(out_dir / "volumes.csv", rows)
    lesion = label_roles(class_names).lesion_name
    if lesion is not None:
        stem = safe_name(lesion.lower(), "lesion")  # a class name from the model: data, never a path
        table = inside(out_dir, f"{stem if stem.endswith('s') else stem + 's'}.csv")
        if lesion_rows:
            write_table(table, lesion_rows)
        else:
            columns = f"volume,{lesion},volume_ml,diameter_mm,voxels,voxel_i,voxel_j,voxel_k,x_mm,y_mm,z_mm"
            atomic_write_text(table, columns + "\n")
