"""A lung recipe variant scored by patient-level cross-validation, never on the held-out patients.

Each variant is the default lung recipe plus ``section.key=value`` overrides. The held-out
patients of the recipe's split (``data.test_fraction``, ``data.split_seed``) are set aside; each of
the remaining patients is the validation patient once, with a model trained on the others. The
validation crops of all folds are pooled, and the foreground probability threshold and the
largest-component step are scored on them, so that both can be chosen on validation too.

    python bench/lung_recipe_cv.py NAME --data ../shared/data/lidc-idri --out runs/lung_cv_ablation \
        train.loss=dice_ce train.epochs=40

Prints one JSON line: per threshold, pooled per-crop Dice, precision and recall (means), and the
Dice of crops whose reference nodule is under / at least 100 pixels.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from medseg.config import load_config
from medseg.data.loading import load_cases
from medseg.data.splits import split_cases
from medseg.experiments.train import train_run
from medseg.inference import Predictor
from medseg.inference.postprocess import largest_component

RECIPE = "lung_attention_unet_grid"
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def crop_scores(prob: np.ndarray, reference: np.ndarray, threshold: float, largest: bool) -> tuple[float, ...]:
    """Dice, precision, recall of ``prob >= threshold`` (optionally its largest component)."""
    pred = prob >= threshold
    if largest and pred.any():
        pred = largest_component(pred, fill_holes=True)
    ref = reference > 0
    tp = float((pred & ref).sum())
    dice = 2 * tp / max(1.0, float(pred.sum() + ref.sum()))
    precision = tp / float(pred.sum()) if pred.any() else 0.0
    recall = tp / max(1.0, float(ref.sum()))
    return dice, precision, recall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--recipe", default=RECIPE)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_intermixed_args()
    torch.set_num_threads(1)
    base = ["train.threads=1", "train.tensorboard=false", "eval.hausdorff=false"]
    config = load_config(args.recipe, base + args.overrides)
    cases = load_cases(config, args.data)
    held_out = set(split_cases(cases, 0.2, config.data.test_fraction, config.data.split_seed)["test"])
    held_out_patients = {c.group for c in cases if c.id in held_out}
    pool = [c for c in cases if c.group not in held_out_patients]
    patients = sorted({c.group for c in pool})
    started = time.monotonic()
    rows = []  # (prob, mask) of every validation crop
    epochs = []
    for patient in patients:
        split = {
            "train": [c.id for c in pool if c.group != patient],
            "val": [c.id for c in pool if c.group == patient and not c.training_only],
            "test": sorted(held_out),
        }
        run = args.out / args.name / patient
        result = train_run(config, args.data, run, overwrite=True, cases=cases, split=split)
        epochs.append(result.best_epoch)
        predictor = Predictor.from_run(run, "best")
        val = [c for c in pool if c.group == patient and not c.training_only]
        probs = predictor.probabilities_batch([c.image for c in val])
        rows += [(p[1], c.mask) for p, c in zip(probs, val, strict=True)]
    table = {}
    for largest in (False, True):
        for t in THRESHOLDS:
            scores = np.array([crop_scores(p, m, t, largest) for p, m in rows])
            small = np.array([int(m.sum()) < 100 for _, m in rows])
            table[f"t{t}{'_lcc' if largest else ''}"] = {
                "dice": round(float(scores[:, 0].mean()), 3),
                "precision": round(float(scores[:, 1].mean()), 3),
                "recall": round(float(scores[:, 2].mean()), 3),
                "dice_small": round(float(scores[small, 0].mean()), 3),
                "dice_large": round(float(scores[~small, 0].mean()), 3),
            }
    best = max(table, key=lambda k: table[k]["dice"])
    print(
        json.dumps(
            {
                "variant": args.name,
                "overrides": args.overrides,
                "crops": len(rows),
                "best_epochs": epochs,
                "seconds": round(time.monotonic() - started),
                "best": best,
                "at_best": table[best],
                "argmax": table["t0.5_lcc"],
                "table": table,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
