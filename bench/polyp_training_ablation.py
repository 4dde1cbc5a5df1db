"""Training ablation for the polyp recipe, scored on the VALIDATION split (never on test).

Trains MobileU-Net once per variant with the same reduced budget (input size, iterations) from
the same seed and split as ``polyp_mobile_unet``, then scores each on the validation images at
their own size (Dice, IoU) with and without flip TTA / multi-scale inference.

    python bench/polyp_training_ablation.py --data ../shared/data/kvasir-seg --out /tmp/polyp_ablation \
        [--size 64] [--epochs 6] [--iterations 50] [--variants paper,loss,recipe]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from medseg.config import load_config
from medseg.data.readers import read_dataset
from medseg.data.splits import select, split_cases
from medseg.experiments.evaluate import evaluate_cases
from medseg.inference import Predictor
from medseg.io import write_table
from medseg.training.engine import fit

# name -> overrides of the recipe (polyp_mobile_unet): each adds one change to the one before.
VARIANTS = {
    "paper": [  # the paper's training: Dice loss, flips and rotations, lr constant until epoch 30
        "train.loss=dice",
        "train.scheduler=none",
        "augment.scale=0.0",
        "augment.color=0.0",
        "augment.grid_distortion=0.0",
    ],
    "loss": [  # + BCE + Dice, cosine decay
        "augment.scale=0.0",
        "augment.color=0.0",
        "augment.grid_distortion=0.0",
    ],
    "scale_color": ["augment.grid_distortion=0.0"],  # + scale and colour jitter
    "recipe": [],  # + grid distortion: the recipe as shipped
}
INFERENCE = {
    "plain": {"tta": False, "scales": (1.0,)},
    "flip TTA": {"tta": True, "scales": (1.0,)},
    "flip TTA + scales 0.75/1/1.25": {"tta": True, "scales": (0.75, 1.0, 1.25)},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--inference", default=",".join(INFERENCE), help="inference modes to score")
    args = parser.parse_args()

    out = Path(args.out)
    base = load_config("polyp_mobile_unet")
    cases = read_dataset(base.data.layout, args.data)
    split = split_cases(cases, base.data.val_fraction, base.data.test_fraction, base.data.split_seed)
    train, val = select(cases, split["train"]), select(cases, split["val"])
    rows = []
    for name in args.variants.split(","):
        config = load_config(
            "polyp_mobile_unet",
            [
                *VARIANTS[name],
                f"data.image_size=[{args.size},{args.size}]",
                "train.batch_size=4",
                f"train.epochs={args.epochs}",
                f"train.iterations_per_epoch={args.iterations}",
                "train.threads=1",
                "train.tensorboard=false",
            ],
        )
        started = time.perf_counter()
        result = fit(config, train, val, out / name)
        for mode in args.inference.split(","):
            predictor = Predictor.from_run(out / name, "last", device="cpu", **INFERENCE[mode])
            predictor.config.eval.hausdorff = False  # Dice and IoU only: distances are slow at full size
            _, summary = evaluate_cases(predictor, val, None, overlays=False)
            rows.append(
                {
                    "variant": name,
                    "inference": mode,
                    "val_dice": summary["dice_polyp"]["mean"],
                    "val_iou": summary["iou_polyp"]["mean"],
                    "train_seconds": round(result.train_seconds, 1),
                    "wall_seconds": round(time.perf_counter() - started, 1),
                }
            )
            print(rows[-1], flush=True)
            write_table(out / "ablation.csv", rows)  # every variant of this invocation


if __name__ == "__main__":
    main()
