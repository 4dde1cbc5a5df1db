"""One lung recipe variant trained on the grid's split, scored on validation and held-out crops.

How the lung recipe's free choices (normalisation, loss weighting, schedule, epochs, batch norm,
augmentation) were compared: each variant is the recipe plus ``section.key=value`` overrides,
trained on the grid's patient split (3 train patients, 1 validation patient; the 2 held-out
patients are only scored). Choose on the validation numbers; the held-out ones are printed so
that the choice can be checked afterwards, not to choose.

    python bench/lung_recipe_ablation.py NAME --data ../shared/data/lidc-idri --out runs/ablation \
        train.epochs=30 train.batch_size=8 train.scheduler=cosine data.normalize=none
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from medseg.config import load_config
from medseg.data.loading import load_cases
from medseg.data.splits import select, split_cases
from medseg.experiments.evaluate import evaluate_cases
from medseg.experiments.train import train_run
from medseg.inference import Predictor

RECIPE = "lung_attention_unet_grid"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="the variant's name (its run folder inside --out)")
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("overrides", nargs="*", help="section.key=value overrides of the recipe")
    args = parser.parse_args()
    torch.set_num_threads(1)
    base = ["train.threads=1", "train.tensorboard=false", "eval.hausdorff=false"]
    config = load_config(RECIPE, base + args.overrides)
    cases = load_cases(config, args.data)
    split = split_cases(cases, config.data.val_fraction, config.data.test_fraction, config.data.split_seed)
    started = time.monotonic()
    result = train_run(config, args.data, args.out / args.name, overwrite=True, cases=cases, split=split)
    predictor = Predictor.from_run(args.out / args.name, "best")
    scores = {}
    for name in ("val", "test"):
        _, summary = evaluate_cases(predictor, select(cases, split[name]), None, False)
        scores[name] = {k: round(summary[k]["mean"], 3) for k in ("dice_nodule", "precision_nodule", "recall_nodule")}
    print(
        json.dumps(
            {
                "variant": args.name,
                "overrides": args.overrides,
                "best_val_dice": result.best_score,
                "best_epoch": result.best_epoch,
                "seconds": round(time.monotonic() - started),
                "validation_crops": scores["val"],
                "held_out_crops": scores["test"],
            }
        )
    )


if __name__ == "__main__":
    main()
