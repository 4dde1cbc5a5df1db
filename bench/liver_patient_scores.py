"""A liver model (one run, or a cascade: medseg.inference.cascade) on whole 3D-IRCADb patients.

Predicts each patient's whole CT exactly as ``medseg predict`` does (both stages of a cascade, the
3D post-processing) and scores it in 3D against the reference: Dice and HD95 (mm) of the liver with
its tumours and of the tumours, volume errors in %, and the tumour count against the reference's
tumours above the minimum size (``eval.min_lesion_volume_mm3``), with the time per patient.

    python bench/liver_patient_scores.py RUN --data ../shared/data/3dircadb/3Dircadb1.1 [--threads 2]

Prints one JSON line per patient.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from medseg.data.readers.ircadb import patient_folders, read_ircadb_patient
from medseg.experiments.evaluate_volumes import volume_metrics
from medseg.inference.backends import open_predictor
from medseg.inference.volume import min_lesion_mm3, segment_and_measure
from medseg.measure.volumes import measure_label_volume

KEYS = ("liver_with_tumour", "tumour")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--data", type=Path, required=True, help="a 3D-IRCADb patient folder, or a folder of them")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    predictor = open_predictor(args.run, threads=args.threads)
    names = list(predictor.config.data.class_names)
    minimum = min_lesion_mm3(predictor)
    for folder in patient_folders(args.data):
        volume, reference, _ = read_ircadb_patient(folder)
        started = time.monotonic()
        result = segment_and_measure(predictor, volume, name=folder.name)
        seconds = time.monotonic() - started
        scores = volume_metrics(result.labels, reference, names, volume.spacing_zyx)
        _, reference_tumours = measure_label_volume(reference, volume.spacing_zyx, names, min_lesion_mm3=minimum)
        row = {"patient": folder.name, "seconds": round(seconds, 1)}
        for key in KEYS:
            for metric in ("dice", "hd95_mm"):
                row[f"{metric}_{key}"] = round(scores[f"{metric}_{key}"], 3)
            row[f"{key}_ml"] = round(scores[f"{key}_pred_ml"], 1)
            row[f"{key}_ref_ml"] = round(scores[f"{key}_ref_ml"], 1)
            row[f"{key}_ml_diff_pct"] = round(scores[f"{key}_ml_diff_pct"], 1)
        row["tumours"] = len(result.lesions)
        row["reference_tumours"] = len(reference_tumours)
        row["min_tumour_mm3"] = minimum
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
