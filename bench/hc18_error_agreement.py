"""Do different trainings err on the same HC18 images? Per-image HC errors of several runs compared.

Scores every run on the same split as ``medseg evaluate`` would (the run's post-processing, optionally
flips and input scales) and prints, per run, the mean |HC error| and its bias; then how alike the
runs' per-image signed errors are: their pairwise correlation, the share of their variance that the
runs' mean error holds, and the mean |HC error| of that mean error (what no averaging of these
trainings goes below). The runs must share one split. Choose on ``--split val``.

    python bench/hc18_error_agreement.py RUN [RUN ...] --data ../shared/data/hc18 [--split val] [--tta]
        [--scales 1,1.1,1.2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from medseg.data.loading import load_cases
from medseg.data.splits import load_split, select
from medseg.experiments.evaluate import evaluate_cases
from medseg.inference import Predictor


def head_circumferences(
    run_dir: str, data: str, split: str, tta: bool, scales: tuple[float, ...]
) -> dict[str, tuple[float, float]]:
    """``{case id: (predicted HC, reference HC) in mm}`` of one run on ``split``."""
    predictor = Predictor.from_run(run_dir, tta=tta, scales=scales)
    cases = select(load_cases(predictor.config, data), load_split(f"{run_dir}/split.json")[split])
    rows, _ = evaluate_cases(predictor, cases, None)
    return {row["id"]: (float(row["hc_mm"]), float(row["hc_ref_mm"])) for row in rows}


def calibrated_absdiff(predicted: np.ndarray, reference: np.ndarray, kind: str) -> float:
    """Mean |HC error| (mm) after a correction fitted on all other images, for each image in turn.

    ``kind`` ``"scale"``: ``reference ~ s * predicted`` with ``s`` the median ratio; ``"line"``:
    ``reference ~ a + b * predicted`` by least squares. ``predicted``, ``reference``: ``(N,)`` mm.
    """
    corrected = np.empty_like(predicted)
    for i in range(len(predicted)):
        others = np.arange(len(predicted)) != i
        if kind == "scale":
            corrected[i] = predicted[i] * np.median(reference[others] / predicted[others])
        elif kind == "line":
            slope, intercept = np.polyfit(predicted[others], reference[others], 1)
            corrected[i] = intercept + slope * predicted[i]
        else:
            raise ValueError(f"kind must be 'scale' or 'line', got {kind!r}")
    return float(np.abs(corrected - reference).mean())


def agreement(errors: np.ndarray) -> dict[str, float]:
    """How alike the rows of ``errors`` ``(runs, images)`` are (signed HC errors, mm)."""
    pairs = np.triu_indices(len(errors), 1)
    correlation = np.corrcoef(errors)[pairs]
    common = errors.mean(axis=0)
    return {
        "correlation_mean": float(correlation.mean()),
        "correlation_min": float(correlation.min()),
        "common_share": float(common.var() / errors.var(axis=1).mean()),
        "common_absdiff_mm": float(np.abs(common).mean()),
        "own_absdiff_mm": float(np.abs(errors - common).mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--tta", action="store_true")
    parser.add_argument("--scales", default="1", help="comma-separated input scales, e.g. 1,1.1,1.2")
    args = parser.parse_args()
    if len(args.runs) < 2:
        raise SystemExit("give at least two runs")
    splits = {run: load_split(f"{run}/split.json")[args.split] for run in args.runs}
    if any(ids != splits[args.runs[0]] for ids in splits.values()):
        raise SystemExit(f"the runs do not share one {args.split} split")
    scales = tuple(float(v) for v in args.scales.split(","))
    started = time.perf_counter()
    per_run = [head_circumferences(run, args.data, args.split, args.tta, scales) for run in args.runs]
    ids = sorted(per_run[0])
    predicted = np.array([[run[i][0] for i in ids] for run in per_run])
    reference = np.array([per_run[0][i][1] for i in ids])
    errors = predicted - reference
    seconds = time.perf_counter() - started
    print(f"{len(ids)} {args.split} images, {len(args.runs)} runs, tta={args.tta}, scales={scales}, {seconds:.0f} s")
    print("| run | mean \\|HC error\\| mm | bias mm | after a scale (leave-one-out) | after a line (leave-one-out) |")
    print("|---|---|---|---|---|")
    for run, row, hcs in zip(args.runs, errors, predicted, strict=True):
        scaled, line = (calibrated_absdiff(hcs, reference, kind) for kind in ("scale", "line"))
        print(f"| {run} | {np.abs(row).mean():.3f} | {row.mean():+.3f} | {scaled:.3f} | {line:.3f} |")
    found = agreement(errors)
    print(
        f"pairwise correlation of the per-image errors: mean {found['correlation_mean']:.3f}, "
        f"min {found['correlation_min']:.3f}; share of their variance in the runs' mean error: "
        f"{found['common_share']:.2f}"
    )
    print(
        f"mean |HC error| of the runs' mean error: {found['common_absdiff_mm']:.3f} mm; "
        f"mean distance of a run's error from it: {found['own_absdiff_mm']:.3f} mm"
    )
    worst = np.argsort(-np.abs(errors.mean(axis=0)))[:6]
    print("largest mean errors: " + ", ".join(f"{ids[i]} {errors[:, i].mean():+.1f} mm" for i in worst))


if __name__ == "__main__":
    main()
