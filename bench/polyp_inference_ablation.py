"""Inference ablation on a trained polyp run: plain, flip TTA, more flips, multi-scale, thresholds, weight averaging.

Scores the same checkpoint on the run's own split (use ``val`` to choose; ``test`` only to report)
at each image's own size. Prints one row per variant and adds it to ``RUN_DIR/inference_<split>.csv``
(rows of earlier calls are kept; a variant scored again replaces its row).

    python bench/polyp_inference_ablation.py RUN_DIR --data ../shared/data/kvasir-seg [--split val] \
        [--leaky-frames] [--thresholds 0.3,0.4,0.5,0.6] [--average CKPT,CKPT] [--images-of RUN]

``--thresholds`` adds one row per foreground-probability threshold (flip TTA; the predictor's own
decision is the argmax, i.e. 0.5), post-processing as the run's config says. ``--average`` scores,
instead of the best checkpoint alone, the mean of its weights and those of the named checkpoints
(e.g. the best and last of one run, or of runs that continue one another; BatchNorm statistics are
averaged too). ``--images-of OTHER_RUN`` takes the images from another run's split and dataset
layout instead (e.g. a Kvasir model on a CVC run's validation sequences, no CVC training); the rows
then go to ``RUN_DIR/inference_<split>_of_<other run's split folder>.csv``.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

from medseg.config import load_config
from medseg.data.readers import read_dataset
from medseg.data.splits import load_split, select
from medseg.experiments.evaluate import evaluate_cases
from medseg.experiments.studies.polyp import regroup_by_frame
from medseg.inference import Predictor
from medseg.inference.postprocess import postprocess
from medseg.io import write_table
from medseg.metrics import confusion, summarize
from medseg.models.averaging import average_state_dicts
from medseg.models.checkpoint import load_checkpoint

VARIANTS = {
    "plain": {"tta": False, "scales": (1.0,)},
    "flip TTA": {"tta": True, "scales": (1.0,)},
    "four flips": {"tta": True, "scales": (1.0,)},
    "scales 0.75/1/1.25": {"tta": False, "scales": (0.75, 1.0, 1.25)},
    "flip TTA + scales 1/1.25": {"tta": True, "scales": (1.0, 1.25)},
    "flip TTA + scales 0.75/1/1.25": {"tta": True, "scales": (0.75, 1.0, 1.25)},
}


class FourFlipPredictor(Predictor):
    """Test-time augmentation over four views: as is, left-right, up-down and both flipped, averaged."""

    TTA_VIEWS = ((), (-1,), (-2,), (-2, -1))


def load_predictor(run_dir: Path, variant: str, average: list[str]) -> Predictor:
    """The run's best checkpoint for ``variant``, its weights averaged with the ``average`` checkpoints' if any."""
    kind = FourFlipPredictor if variant == "four flips" else Predictor
    predictor = kind.from_run(run_dir, "best", device="cpu", **VARIANTS[variant])
    if average:
        states = [predictor.models[0].state_dict()] + [load_checkpoint(path)["state_dict"] for path in average]
        predictor.models[0].load_state_dict(average_state_dicts(states, [f"{run_dir} best", *average]))
    return predictor


def add_rows(table: Path, rows: list[dict]) -> None:
    """Writes ``rows`` into ``table``, keeping the rows of earlier calls.

    A row scored again (same split, inference and averaged checkpoints) replaces its earlier self.
    """

    def key(row: dict) -> tuple:
        return row["split"], row["inference"], row.get("averaged_with") or ""

    new = {key(row) for row in rows}
    kept = []
    if table.is_file():
        with table.open(newline="") as handle:
            kept = [row for row in csv.DictReader(handle) if key(row) not in new]
    columns = list(dict.fromkeys(column for row in kept + rows for column in row))
    write_table(table, [{column: row.get(column, "") for column in columns} for row in kept + rows])


def threshold_rows(run_dir: Path, cases: list, thresholds: list[float], split: str, average: list[str]) -> list[dict]:
    """Flip-TTA Dice and IoU at each foreground threshold; the probabilities are computed once per image."""
    started = time.perf_counter()
    predictor = load_predictor(run_dir, "flip TTA", average)
    scores: dict[float, list[dict[str, float]]] = {t: [] for t in thresholds}
    for case in cases:
        foreground = predictor.probabilities(case.image)[1]
        for t in thresholds:
            mask, _ = postprocess((foreground >= t).astype("uint8"), predictor.config.postprocess, 2)
            counts = confusion(mask, case.mask, 1)
            scores[t].append({"dice": counts.dice, "iou": counts.iou})
    seconds = round(time.perf_counter() - started, 1)
    rows = []
    for t in thresholds:
        means = summarize(scores[t])
        rows.append(
            {
                "split": split,
                "inference": f"flip TTA, foreground >= {t:g}",
                "images": len(cases),
                "dice": means["dice"]["mean"],
                "iou": means["iou"]["mean"],
                "seconds": seconds,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--leaky-frames", action="store_true", help="the run used the random-frame CVC split")
    parser.add_argument("--thresholds", default="", help="comma-separated foreground thresholds (flip TTA)")
    parser.add_argument("--average", default="", help="comma-separated checkpoints to average with the best one")
    parser.add_argument(
        "--images-of",
        default="",
        help="another run folder whose split (and dataset layout) picks the images, e.g. a Kvasir model "
        "scored on a CVC run's validation sequences",
    )
    args = parser.parse_args()

    run_dir = Path(args.run_dir)
    images_run = Path(args.images_of) if args.images_of else run_dir
    config = load_config(images_run / "config.yaml")
    cases = read_dataset(config.data.layout, args.data, **config.data.reader)
    if args.leaky_frames:
        cases = regroup_by_frame(cases)
    chosen = select(cases, load_split(images_run / "split.json")[args.split])
    table = run_dir / f"inference_{args.split}{f'_of_{images_run.parent.name}' if args.images_of else ''}.csv"
    average = [path for path in args.average.split(",") if path]
    suffix = f", weights of {len(average) + 1} checkpoints averaged" if average else ""
    rows = []
    for name in filter(None, args.variants.split(",")):
        started = time.perf_counter()
        predictor = load_predictor(run_dir, name, average)
        predictor.config.eval.hausdorff = False  # Dice and IoU only: distances are slow at full size
        _, summary = evaluate_cases(predictor, chosen, None, overlays=False)
        rows.append(
            {
                "split": args.split,
                "inference": name + suffix,
                "images": len(chosen),
                "dice": summary["dice_polyp"]["mean"],
                "iou": summary["iou_polyp"]["mean"],
                "seconds": round(time.perf_counter() - started, 1),
                "averaged_with": ";".join(average),
            }
        )
        print(rows[-1], flush=True)
        add_rows(table, rows)
    if args.thresholds:
        thresholds = [float(v) for v in args.thresholds.split(",")]
        for row in threshold_rows(run_dir, chosen, thresholds, args.split, average):
            row["inference"] += suffix
            row["averaged_with"] = ";".join(average)
            rows.append(row)
            print(row, flush=True)
        add_rows(table, rows)


if __name__ == "__main__":
    main()
