"""Per-volume liver and tumour scores of a trained run on held-out CT volumes (patients).

Predicts every axial slice of every volume under DATA (any layout of the ``ct`` reader: 3D-IRCADb,
LiTS, MSD) with the run's model, stacks the slices and scores each volume in 3D:

- liver = labels 1 and 2 (liver including its tumours, as LiTS scores it), tumour = label 2;
- Dice from true/false positives and negatives summed over all slices of the volume;
- volumes in ml from the voxel size (in-plane spacing x slice thickness);
- ``+lcc`` rows: the same after keeping the largest 3D connected component of the liver (tumour
  voxels outside it are dropped), the usual 3D post-processing.

    PYTHONPATH=src python bench/liver_cross_patient.py RUN_DIR --data PATIENT_FOLDER [--checkpoint last]

Prints one line per volume and writes RUN_DIR/evaluation/volumes_<data name>.csv.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from medseg.data.readers import read_dataset
from medseg.inference import Predictor
from medseg.io import write_table


def dice(pred: np.ndarray, ref: np.ndarray) -> float:
    tp = np.logical_and(pred, ref).sum()
    total = pred.sum() + ref.sum()
    return float(2 * tp / total) if total else 1.0


def largest_component_3d(liver: np.ndarray) -> np.ndarray:
    labelled, count = ndimage.label(liver)
    if count <= 1:
        return liver
    sizes = ndimage.sum_labels(liver, labelled, range(1, count + 1))
    return labelled == (1 + int(np.argmax(sizes)))


def score(pred: np.ndarray, ref: np.ndarray, voxel_ml: float) -> dict[str, float]:
    row = {}
    for name, p, r in (("liver", pred >= 1, ref >= 1), ("tumour", pred == 2, ref == 2)):
        row[f"dice_{name}"] = dice(p, r)
        row[f"{name}_ml"] = float(p.sum() * voxel_ml)
        row[f"{name}_ref_ml"] = float(r.sum() * voxel_ml)
        row[f"{name}_ml_rel_diff"] = (row[f"{name}_ml"] - row[f"{name}_ref_ml"]) / max(row[f"{name}_ref_ml"], 1e-9)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--checkpoint", default="best")
    args = parser.parse_args()
    torch.set_num_threads(1)
    predictor = Predictor.from_run(args.run_dir, args.checkpoint, device="cpu")
    cases = read_dataset("ct", args.data)  # every slice, whatever the run's reader options
    rows = []
    started = time.perf_counter()
    for volume in sorted({c.meta["volume_id"] for c in cases}):
        slices = sorted((c for c in cases if c.meta["volume_id"] == volume), key=lambda c: c.meta["slice_index"])
        pred = np.stack([predictor.predict(c.image).mask for c in slices])
        ref = np.stack([c.mask for c in slices])
        row_mm, col_mm = slices[0].spacing_mm
        voxel_ml = row_mm * col_mm * slices[0].meta["slice_thickness_mm"] / 1000.0
        lcc = pred * largest_component_3d(pred >= 1)
        for name, labels in ((volume, pred), (f"{volume}+lcc", lcc)):
            row = {"volume": name, "slices": len(slices), **score(labels, ref, voxel_ml)}
            rows.append(row)
            print(
                f"{name}: liver Dice {row['dice_liver']:.4f}, {row['liver_ml']:.1f} ml vs {row['liver_ref_ml']:.1f} ml "
                f"({100 * row['liver_ml_rel_diff']:+.1f}%); tumour Dice {row['dice_tumour']:.4f}, "
                f"{row['tumour_ml']:.1f} ml vs {row['tumour_ref_ml']:.1f} ml",
                flush=True,
            )
    out = args.run_dir / "evaluation" / f"volumes_{args.data.name}.csv"
    write_table(out, rows)
    print(f"{len(cases)} slices in {time.perf_counter() - started:.0f} s; table {out}")


if __name__ == "__main__":
    main()
