"""Evaluation per volume: slice predictions stacked back into volumes and scored in 3D.

Slice cases of the volume readers (``nifti``, ``msd``, ``dicom``, ``ircadb``) carry ``volume_id``,
``slice_index``, ``n_slices``, ``slice_thickness_mm`` and ``spacing_mm`` in ``meta``. Their predicted
slices are stacked in slice order, cleaned in 3D as ``medseg predict`` does (``postprocess.volume_3d``),
and compared with the stacked reference masks. Per volume and per class (``<c>`` = class name):

- ``dice_<c>``; ``hd95_mm_<c>``: 95th percentile Hausdorff distance in mm (MONAI, with the voxel spacing;
  +inf when the class is in only one of the two, NaN when in neither);
- ``<c>_ref_ml``, ``<c>_pred_ml`` and ``<c>_ml_diff_pct`` = ``100 * (pred - ref) / ref``.

When the classes name an organ and a lesion (``liver``, ``tumour``), the organ with its lesions is
scored too as ``<organ>_with_<lesion>`` (e.g. ``dice_liver_with_tumour``, ``liver_with_tumour_ref_ml``):
the usual liver volume and liver Dice of LiTS.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from medseg.data.case import Case
from medseg.data.readers import read_dataset
from medseg.inference import Predictor
from medseg.inference.postprocess import postprocess_volume, small_lesion_minimum
from medseg.inference.volume_qc import volume_qc
from medseg.io import atomic_write_text, json_safe, write_table
from medseg.logs import log
from medseg.measure.volumes import label_roles
from medseg.metrics import confusion, hausdorff_mm, summarize
from medseg.run_folder import EvaluationFolder

VOLUME_PREFIX = "volume_"  # summary keys of the per-volume table in metrics.json


def is_volume_case(case: Case) -> bool:
    return all(key in case.meta for key in ("volume_id", "slice_index", "n_slices"))


def complete_volumes(cases: list[Case]) -> tuple[dict[str, list[Case]], list[str]]:
    """Cases grouped by ``volume_id`` in slice order, and the ids of volumes with slices missing."""
    volumes: dict[str, list[Case]] = defaultdict(list)
    for case in cases:
        if is_volume_case(case):
            volumes[str(case.meta["volume_id"])].append(case)
    incomplete = []
    for volume_id, members in volumes.items():
        members.sort(key=lambda c: int(c.meta["slice_index"]))
        indices = [int(c.meta["slice_index"]) for c in members]
        if indices != list(range(int(members[0].meta["n_slices"]))):
            incomplete.append(volume_id)
    return dict(volumes), incomplete


def volume_metrics(
    prediction: np.ndarray, reference: np.ndarray, class_names: list[str], spacing_zyx: tuple[float, float, float]
) -> dict[str, float]:
    """3D scores of one volume (columns in the module docstring).

    Args:
        prediction, reference: ``(Z, Y, X)`` integer labels.
        spacing_zyx: voxel size in mm.
    """
    voxel_ml = float(np.prod(spacing_zyx)) / 1000.0
    scored: list[tuple[str, np.ndarray, np.ndarray]] = [
        (name, prediction == label, reference == label) for label, name in enumerate(class_names) if label > 0
    ]
    roles = label_roles(class_names)
    if roles.organ is not None and roles.lesion is not None:
        both = (roles.organ, roles.lesion)
        name = f"{roles.organ_name}_with_{roles.lesion_name}"
        scored.append((name, np.isin(prediction, both), np.isin(reference, both)))
    row: dict[str, float] = {}
    for name, pred, ref in scored:
        row[f"dice_{name}"] = confusion(pred.astype(np.uint8), ref.astype(np.uint8), 1).dice
        row[f"hd95_mm_{name}"] = hausdorff_mm(pred.astype(np.uint8), ref.astype(np.uint8), 1, spacing_zyx, 95)
        ref_ml, pred_ml = float(ref.sum()) * voxel_ml, float(pred.sum()) * voxel_ml
        row[f"{name}_ref_ml"], row[f"{name}_pred_ml"] = ref_ml, pred_ml
        row[f"{name}_ml_diff_pct"] = 100.0 * (pred_ml - ref_ml) / ref_ml if ref_ml > 0 else math.nan
    return row


def evaluate_volumes(
    predictor: Predictor,
    cases: list[Case],
    predicted: dict[str, np.ndarray] | None = None,
    out_dir: str | Path | None = None,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, float]]]:
    """Scores every complete volume among ``cases`` in 3D.

    Args:
        cases: slice cases with masks; a volume's slices must all be there (others are skipped with a message).
        predicted: ``{case id: (H, W) predicted labels}`` already computed (e.g. by the per-slice
            evaluation); the other slices are predicted here.
        out_dir: writes ``per_volume.csv`` there.

    Returns:
        One row per volume (``volume``, ``slices``, spacing, then :func:`volume_metrics`) and their summary
        (keys prefixed ``volume_``, e.g. ``volume_dice_liver``).
    """
    predicted = predicted or {}
    config = predictor.config
    volumes, incomplete = complete_volumes(cases)
    for volume_id in incomplete:
        log(f"  {volume_id}: slices missing, not evaluated as a volume")
    rows = []
    for volume_id, members in volumes.items():
        if volume_id in incomplete or any(c.mask is None for c in members):
            continue
        prediction = np.stack(
            [predicted[c.id] if c.id in predicted else predictor.predict(c.image).mask for c in members]
        ).astype(np.uint8)
        row_mm, col_mm = members[0].spacing_mm
        spacing = (float(members[0].meta.get("slice_thickness_mm", 1.0)), row_mm, col_mm)
        if config.postprocess.volume_3d:
            prediction = postprocess_volume(prediction, config.data.class_names, spacing, small_lesion_minimum(config))
        reference = np.stack([c.mask for c in members]).astype(np.uint8)
        row: dict[str, Any] = {
            "volume": volume_id,
            "slices": len(members),
            "spacing_z_mm": spacing[0],
            "spacing_y_mm": spacing[1],
            "spacing_x_mm": spacing[2],
        }
        row.update(volume_metrics(prediction, reference, config.data.class_names, spacing))
        if config.eval.qc:
            images = np.stack([c.image for c in members])
            row.update(volume_qc(predictor, images, prediction, spacing, config.postprocess.volume_3d))
        rows.append(row)
        log(f"  volume {volume_id}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items() if k.startswith("dice_")))
    summary = {f"{VOLUME_PREFIX}{k}": v for k, v in summarize(rows).items() if not k.startswith(("spacing", "slices"))}
    if out_dir is not None and rows:
        write_table(EvaluationFolder(out_dir).per_volume, rows)
    return rows, summary


def evaluate_split_volumes(
    predictor: Predictor,
    cases: list[Case],
    data_path: str | Path,
    predicted: dict[str, np.ndarray] | None = None,
    out_dir: str | Path | None = None,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, float]]]:
    """:func:`evaluate_volumes` on the volumes of a split's slice cases.

    When the reader's options left slices out (``empty_fraction`` < 1, ``stride`` > 1), the split's
    volumes are read again with every slice, so volumes and distances are measured on whole volumes.
    With ``out_dir``, writes ``per_volume.csv`` and adds the ``volume_*`` summary to ``metrics.json``.

    Returns:
        As :func:`evaluate_volumes` (no rows when the cases are not slices of volumes).
    """
    volume_ids = {str(c.meta["volume_id"]) for c in cases if is_volume_case(c)}
    if not volume_ids:
        return [], {}
    _, incomplete = complete_volumes(cases)
    if incomplete:
        config = predictor.config
        options = {**config.data.reader, "empty_fraction": 1.0, "stride": 1}
        full = read_dataset(config.data.layout, data_path, **options)
        cases = [c for c in full if is_volume_case(c) and str(c.meta["volume_id"]) in volume_ids]
    rows, summary = evaluate_volumes(predictor, cases, predicted, out_dir)
    if out_dir is not None and rows:
        metrics_path = EvaluationFolder(out_dir).metrics
        metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
        metrics.update(json_safe(summary))
        atomic_write_text(metrics_path, json.dumps(metrics, indent=1))
    return rows, summary
