"""Evaluation per volume: slices stacked back, Dice, HD95 in mm and volumes in ml."""

from __future__ import annotations

import csv
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from medseg.config import Config
from medseg.data.phantoms.ct import write_lits_dataset
from medseg.data.readers import read_dataset
from medseg.data.volumes.nifti import load_nifti
from medseg.experiments.evaluate import evaluate_cases
from medseg.experiments.evaluate_volumes import evaluate_split_volumes, volume_metrics
from medseg.inference.postprocess import postprocess_volume

CLASSES = ["background", "liver", "tumour"]


def test_volume_metrics_in_mm_and_ml():
    reference = np.zeros((8, 10, 10), np.uint8)
    prediction = np.zeros_like(reference)
    reference[1, 5, 5] = prediction[4, 5, 5] = 1  # three slices apart
    row = volume_metrics(prediction, reference, ["background", "liver"], (2.5, 0.8, 0.8))
    assert row["dice_liver"] == 0
    assert row["hd95_mm_liver"] == pytest.approx(7.5)
    assert row["liver_ref_ml"] == row["liver_pred_ml"] == pytest.approx(2.5 * 0.8 * 0.8 / 1000)
    assert row["liver_ml_diff_pct"] == 0
    prediction[1, 5, 5] = 1
    row = volume_metrics(prediction, reference, ["background", "liver"], (2.5, 0.8, 0.8))
    assert row["dice_liver"] == pytest.approx(2 / 3) and row["liver_ml_diff_pct"] == pytest.approx(100)
    reference[2, 5, 5] = 2
    row = volume_metrics(reference, reference, CLASSES, (1.0, 1.0, 1.0))
    assert row["dice_liver_with_tumour"] == 1 and row["liver_with_tumour_ref_ml"] == pytest.approx(0.002)
    assert row["hd95_mm_tumour"] == 0


class _Threshold:
    def __init__(self, config):
        self.config = config

    def predict(self, image):
        mask = ((image > 45) & (image < 80)).astype(np.uint8)
        mask[(image > 0) & (image <= 30)] = 2
        return SimpleNamespace(mask=mask)


def test_split_volumes_read_whole_volumes_when_the_reader_skips_slices(tmp_path):
    root = write_lits_dataset(tmp_path / "lits", n_volumes=2, shape=(10, 40, 40), seed=1)
    config = Config()
    config.data.layout, config.data.reader = "nifti", {"empty_fraction": 0.0, "stride": 2}
    config.data.num_classes, config.data.class_names = 3, CLASSES
    predictor = _Threshold(config)
    cases = read_dataset("nifti", root, **config.data.reader)
    cases = [c for c in cases if c.meta["volume_id"] == "volume-1"]  # the split: one volume
    out = tmp_path / "eval"
    masks: dict = {}
    evaluate_cases(predictor, cases, out, overlays=False, masks=masks)
    rows, summary = evaluate_split_volumes(predictor, cases, root, masks, out)
    assert [r["volume"] for r in rows] == ["volume-1"] and rows[0]["slices"] == 10
    truth = load_nifti(root / "segmentation-1.nii.gz", labels=True)
    ml = truth.voxel_ml
    assert rows[0]["liver_ref_ml"] == pytest.approx((truth.array == 1).sum() * ml)
    assert rows[0]["liver_with_tumour_ref_ml"] == pytest.approx((truth.array > 0).sum() * ml)
    # The same scores as predicting the whole volume at once.
    image = load_nifti(root / "volume-1.nii.gz").array
    whole = postprocess_volume(np.stack([predictor.predict(s).mask for s in image]), CLASSES)
    expected = volume_metrics(whole, truth.array, CLASSES, truth.spacing_zyx)
    assert {k: rows[0][k] for k in expected} == pytest.approx(expected, nan_ok=True)
    assert rows[0]["dice_liver"] > 0.4 and math.isfinite(rows[0]["hd95_mm_liver"])
    table = list(csv.DictReader((out / "per_volume.csv").open()))
    assert table[0]["volume"] == "volume-1"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["volume_dice_liver"]["mean"] == pytest.approx(rows[0]["dice_liver"])
    assert "dice_liver" in metrics  # the per-slice summary is still there
    assert evaluate_split_volumes(predictor, [], root) == ([], {})
