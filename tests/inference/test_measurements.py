"""Measurements of one 2D prediction: the Bone Scan Index of a bone-scan model."""

import numpy as np
import pytest

from medseg.config import Config
from medseg.inference.measurements import image_measurements
from medseg.inference.predictor import Prediction


def _bone_config(classes: list[str]) -> Config:
    config = Config()
    config.data.num_classes, config.data.class_names = len(classes), classes
    config.eval.measurements = ["bone_scan_index"]
    return config


@pytest.mark.parametrize(
    ("classes", "hotspot", "expected"),
    [(["background", "bone", "normal_uptake", "hotspot"], 3, 20.0), (["background", "bone", "hotspot"], 2, 20.0)],
)
def test_a_bone_scan_model_measures_the_bone_scan_index(classes, hotspot, expected):
    mask = np.zeros((20, 10), np.uint8)
    mask[:8, :] = 1  # 80 bone pixels
    mask[8:10, :] = hotspot  # 20 hotspot pixels: 20 % of the skeleton
    if len(classes) == 4:
        mask[15:, :] = 2  # normal uptake is not skeleton
    prediction = Prediction(mask=mask, probabilities=np.zeros((len(classes), 20, 10), np.float32), ellipse=None)
    row = image_measurements(prediction, _bone_config(classes), 2.4)
    assert row["bsi_percent"] == pytest.approx(expected)
    assert "bsi_percent" not in image_measurements(prediction, Config(), 2.4)
