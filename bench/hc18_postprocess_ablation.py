"""Post-processing ablation on a trained HC18 run: what each step does to Dice, HD and HC error.

Predicts each held-out image once (optionally with flip TTA) and scores post-processings of the
same probabilities: raw argmax, largest component + holes filled, the fitted ellipse, and the
ellipse refitted without the worst-fitting 10% / 20% of the edge points; then other ellipses of the
same cleaned mask: fitted to its convex hull's outline, OpenCV's AMS and direct fits, the ellipse
of the region's second moments, and least-squares fits that weight each outline point by how sharp
the head probability's edge is there (its gradient, to the power 1 or 2), so that a blurred stretch
of skull counts less. Choose on ``--split val``.

    python bench/hc18_postprocess_ablation.py RUN_DIR --data ../shared/data/hc18 [--split test] [--tta]
        [--scales 0.9,1,1.1]   (multi-scale inference: probabilities at each input scale, averaged)
        [--thresholds 0.6,0.7] (also: the ellipse fit on head probability > t instead of the argmax)
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time

import cv2
import numpy as np
from scipy import ndimage, optimize
from skimage.morphology import convex_hull_image

from medseg.config import PostprocessConfig
from medseg.data.loading import load_cases
from medseg.data.splits import load_split, select
from medseg.experiments.evaluate import measurement_row
from medseg.inference import Prediction, Predictor
from medseg.inference.postprocess import postprocess
from medseg.measure.ellipse import Ellipse, fit_ellipse, mask_contour, point_distances, rasterize_ellipse
from medseg.metrics import case_metrics, summarize

VARIANTS = {
    "raw argmax": PostprocessConfig(largest_component=False, fill_holes=False, fit_ellipse=False),
    "largest component + fill": PostprocessConfig(largest_component=True, fill_holes=True, fit_ellipse=False),
    "ellipse fit": PostprocessConfig(largest_component=True, fill_holes=True, fit_ellipse=True),
    "ellipse fit, trimmed 90%": PostprocessConfig(fit_ellipse=True, ellipse_keep=0.9),
    "ellipse fit, trimmed 80%": PostprocessConfig(fit_ellipse=True, ellipse_keep=0.8),
}


def _opencv_fit(fit):
    def fitted(region: np.ndarray, head_probability: np.ndarray) -> Ellipse:
        (cx, cy), (width, height), angle = fit(mask_contour(region))
        return Ellipse(cx, cy, width / 2, height / 2, math.radians(angle))

    return fitted


def _moments_ellipse(region: np.ndarray, head_probability: np.ndarray) -> Ellipse:
    """The ellipse with the region's area centre and second moments (exact for a filled ellipse)."""
    m = cv2.moments(region.astype(np.uint8), binaryImage=True)
    mu20, mu02, mu11 = m["mu20"] / m["m00"], m["mu02"] / m["m00"], m["mu11"] / m["m00"]
    spread = math.hypot((mu20 - mu02) / 2, mu11)
    major, minor = (mu20 + mu02) / 2 + spread, (mu20 + mu02) / 2 - spread
    centre = (m["m10"] / m["m00"], m["m01"] / m["m00"])
    return Ellipse(*centre, 2 * math.sqrt(major), 2 * math.sqrt(minor), 0.5 * math.atan2(2 * mu11, mu20 - mu02))


def _sharpness_weighted_fit(power: float):
    """Least squares of Sampson distances, each outline point weighted by |grad p|**power there."""

    def fitted(region: np.ndarray, head_probability: np.ndarray) -> Ellipse:
        points = mask_contour(region).astype(np.float64)
        start = fit_ellipse(points)
        rows, cols = np.gradient(head_probability)
        sharpness = ndimage.map_coordinates(np.hypot(rows, cols), [points[:, 1], points[:, 0]], order=1)
        weight = np.sqrt(sharpness**power + 1e-6)

        def residuals(params: np.ndarray) -> np.ndarray:
            return weight * point_distances(Ellipse(*params), points)

        found = optimize.least_squares(residuals, [start.cx, start.cy, start.a, start.b, start.angle], method="lm")
        cx, cy, a, b, angle = found.x
        return Ellipse(cx, cy, abs(a), abs(b), angle)

    return fitted


# other ellipses of the cleaned mask (largest component, holes filled), as the "ellipse fit" row's
FITTERS = {
    "ellipse fit to the convex hull": lambda region, _: fit_ellipse(mask_contour(convex_hull_image(region))),
    "ellipse fit, OpenCV AMS": _opencv_fit(cv2.fitEllipseAMS),
    "ellipse fit, OpenCV direct": _opencv_fit(cv2.fitEllipseDirect),
    "ellipse of the region's moments": _moments_ellipse,
    "ellipse fit weighted by edge sharpness": _sharpness_weighted_fit(1.0),
    "ellipse fit weighted by edge sharpness squared": _sharpness_weighted_fit(2.0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--tta", action="store_true")
    parser.add_argument("--scales", default="1", help="comma-separated input scales, e.g. 0.9,1,1.1")
    parser.add_argument("--thresholds", default="", help="comma-separated head-probability thresholds")
    parser.add_argument(
        "--ensemble-with", nargs="*", default=[], help="more runs (same split): their probabilities averaged with RUN's"
    )
    args = parser.parse_args()
    thresholds = [float(v) for v in args.thresholds.split(",") if v]
    variants = dict(VARIANTS)
    variants.update({f"ellipse fit, head probability > {t:g}": VARIANTS["ellipse fit"] for t in thresholds})

    scales = tuple(float(v) for v in args.scales.split(","))
    predictor = Predictor.from_run(args.run_dir, tta=args.tta, scales=scales)
    for other in args.ensemble_with:
        if load_split(f"{other}/split.json") != load_split(f"{args.run_dir}/split.json"):
            raise SystemExit(f"{other}: another split than {args.run_dir}'s")
        predictor.models += Predictor.from_run(other).models
    config = predictor.config
    cases = select(load_cases(config, args.data), load_split(f"{args.run_dir}/split.json")[args.split])
    rows: dict[str, list[dict]] = {name: [] for name in [*variants, *FITTERS]}
    started = time.perf_counter()
    for case in cases:
        probabilities = predictor.probabilities(case.image)
        argmax = probabilities.argmax(0).astype(np.uint8)
        for name, post in variants.items():
            threshold = float(name.rsplit("> ", 1)[1]) if "probability >" in name else None
            labels = argmax if threshold is None else (probabilities[1] > threshold).astype(np.uint8)
            mask, ellipse = postprocess(labels, post, config.data.num_classes)
            row = case_metrics(mask, case.mask, config.data.class_names, case.spacing_mm)
            variant_config = dataclasses.replace(config, postprocess=post)
            row.update(measurement_row(case, Prediction(mask, np.empty(0), ellipse), variant_config))
            rows[name].append(row)
        region, _ = postprocess(argmax, VARIANTS["largest component + fill"], config.data.num_classes)
        for name, fit in FITTERS.items():
            ellipse = fit(region == 1, probabilities[1])
            mask = rasterize_ellipse(ellipse, region.shape).astype(np.uint8)
            row = case_metrics(mask, case.mask, config.data.class_names, case.spacing_mm)
            row.update(measurement_row(case, Prediction(mask, np.empty(0), ellipse), config))
            rows[name].append(row)
    seconds = time.perf_counter() - started
    runs = " + ".join([args.run_dir, *args.ensemble_with])
    print(f"{len(cases)} {args.split} images of {runs}, tta={args.tta}, scales={scales}, {seconds:.0f} s")
    columns = [
        "post-processing",
        "Dice head",
        "IoU head",
        "HD mm mean",
        "HD mm max",
        "|dHC| mm mean",
        "|dHC| mm max",
        "cases |dHC| > 5 mm",
        "mean dHC mm (bias)",
    ]
    print("| " + " | ".join(columns) + " |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, variant_rows in rows.items():
        summary = summarize(variant_rows)
        hd = np.array([r["hd_mm_head"] for r in variant_rows])
        hc = np.array([r["hc_absdiff_mm"] for r in variant_rows])
        bias = np.nanmean([r["hc_diff_mm"] for r in variant_rows])
        print(
            f"| {name} | {summary['dice_head']['mean']:.4f} | {summary['iou_head']['mean']:.4f} | "
            f"{summary['hd_mm_head']['mean']:.2f} | {np.nanmax(hd):.2f} | {summary['hc_absdiff_mm']['mean']:.2f} | "
            f"{np.nanmax(hc):.2f} | {int(np.sum(hc > 5))} | {bias:+.2f} |"
        )


if __name__ == "__main__":
    main()
