"""``ensemble_predictions`` on 2D predictions: masks and measurements from the mean probabilities."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from medseg.errors import DataError
from medseg.experiments.ensemble import ensemble_predictions
from medseg.experiments.predict import predict_run
from medseg.inference.probabilities import load_probabilities


def test_ensemble_of_2d_predictions_writes_masks_and_the_same_measurement_columns(tiny_run, hc18_synthetic, tmp_path):
    folders = [tmp_path / "best", tmp_path / "last"]
    for folder, checkpoint in zip(folders, ("best", "last"), strict=True):
        predict_run(tiny_run, hc18_synthetic, folder, checkpoint=checkpoint, backend="torch", save_probabilities=True)
    rows = ensemble_predictions(folders, tmp_path / "ensemble")
    predicted = list(csv.DictReader((folders[0] / "measurements.csv").open()))
    ensembled = list(csv.DictReader((tmp_path / "ensemble" / "measurements.csv").open()))
    assert len(rows) == len(predicted) == len(ensembled)
    assert set(ensembled[0]) <= set(predicted[0]) and "filename" in ensembled[0]
    name = ensembled[0]["image"]
    saved = load_probabilities(folders[0] / "probabilities" / f"{name}.npz")
    assert saved["kind"] == "image" and saved["probabilities"].dtype == np.float16
    assert (tmp_path / "ensemble" / "masks" / f"{name}.png").is_file()
    with pytest.raises(DataError, match="at least two|probabilities"):
        ensemble_predictions([folders[0], tmp_path / "nothing"], tmp_path / "e2")
