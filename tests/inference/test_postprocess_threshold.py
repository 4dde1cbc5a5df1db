"""The foreground probability threshold of two-class models (``postprocess.threshold``)."""

from __future__ import annotations

import numpy as np
import pytest

from medseg.config import PostprocessConfig, load_config
from medseg.errors import ConfigError
from medseg.inference.postprocess import probabilities_to_labels


def test_threshold_moves_the_foreground_and_half_is_the_argmax():
    foreground = np.array([[0.2, 0.45], [0.55, 0.9]], np.float32)
    probabilities = np.stack([1 - foreground, foreground])
    assert probabilities_to_labels(probabilities, PostprocessConfig()).tolist() == [[0, 0], [1, 1]]
    assert probabilities_to_labels(probabilities, PostprocessConfig(threshold=0.4)).tolist() == [[0, 1], [1, 1]]
    assert probabilities_to_labels(probabilities, PostprocessConfig(threshold=0.7)).tolist() == [[0, 0], [0, 1]]


def test_more_classes_keep_the_argmax():
    probabilities = np.array([[0.5, 0.1], [0.3, 0.2], [0.2, 0.7]], np.float32)[:, :, None]
    labels = probabilities_to_labels(probabilities, PostprocessConfig(threshold=0.9))
    assert labels[:, 0].tolist() == [0, 2]


@pytest.mark.parametrize("value", ["0", "1", "1.5", "nan"])
def test_threshold_outside_zero_one_is_a_config_error(value):
    with pytest.raises(ConfigError, match="postprocess.threshold"):
        load_config("demo", [f"postprocess.threshold={value}"])
