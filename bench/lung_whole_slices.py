"""A lung model on whole CT slices (sliding window): nodules found, false nodules, Dice per slice.

The study scores crops centred on the nodules; a user predicts whole 512x512 slices. This runs a run
folder (or a cross-validation folder: its folds as an ensemble) over the whole slices of chosen
patients of the pylidc export and counts, per slice, the reference nodules hit by a predicted
nodule, the predicted nodules that touch no reference nodule (false nodules) and the slice's Dice.

    python bench/lung_whole_slices.py runs/lung/attention_unet/cv --data ../shared/data/lidc-idri \
        --patients 0003 0004
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from medseg.data.readers.lidc import read_pylidc_slices
from medseg.inference import load_predictor


def slice_scores(reference: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Nodule counts and Dice of one slice (8-connected nodules)."""
    ref_labels, ref_count = ndimage.label(reference, np.ones((3, 3)))
    pred_labels, pred_count = ndimage.label(predicted, np.ones((3, 3)))
    found = len(set(np.unique(ref_labels[predicted])) - {0})
    true_nodules = len(set(np.unique(pred_labels[reference])) - {0})
    hits = float((reference & predicted).sum())
    return {
        "reference_nodules": ref_count,
        "found": found,
        "predicted_nodules": pred_count,
        "false_nodules": pred_count - true_nodules,
        "false_pixels": int((predicted & ~reference).sum()),
        "dice": 2 * hits / max(1.0, float(reference.sum() + predicted.sum())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--patients", nargs="+", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--threshold", type=float, help="foreground probability threshold (default: the run's)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    predictor = load_predictor(args.run, sliding_window=True)
    post = predictor.config.postprocess
    post.largest_component = False  # a whole slice may hold several nodules
    if args.threshold is not None:
        post.threshold = args.threshold
    slices = read_pylidc_slices(args.data, args.patients)
    started = time.monotonic()
    rows = []
    for case in slices:
        predicted = predictor.predict(case.image).mask > 0
        rows.append({"slice": case.id, **slice_scores(case.mask > 0, predicted)})
    seconds = time.monotonic() - started
    total = {key: sum(r[key] for r in rows) for key in ("reference_nodules", "found", "predicted_nodules")}
    total["false_nodules"] = sum(r["false_nodules"] for r in rows)
    print(
        json.dumps(
            {
                "run": str(args.run),
                "slices": len(rows),
                **total,
                "false_nodules_per_slice": round(total["false_nodules"] / max(1, len(rows)), 2),
                "mean_slice_dice": round(float(np.mean([r["dice"] for r in rows])), 3),
                "seconds_per_slice": round(seconds / max(1, len(rows)), 2),
                "per_slice": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
