"""Predictor: flip TTA and multi-scale inference average probabilities at the image's own size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medseg.config import Config
from medseg.inference import Predictor
from medseg.models import create_model


def _predictor(**options) -> Predictor:
    config = Config()
    config.data.image_size = [32, 48]
    torch.manual_seed(0)
    model = create_model("unet", in_channels=1, classes=2, channels=[4, 8])
    return Predictor(model, config, device="cpu", **options)


def test_multi_scale_probabilities_are_the_mean_of_each_scale():
    image = np.random.default_rng(0).integers(0, 255, (50, 70)).astype(np.uint8)
    single = {s: _predictor(scales=(s,)).probabilities(image) for s in (0.5, 1.0, 1.5)}
    combined = _predictor(scales=(0.5, 1.0, 1.5)).probabilities(image)
    assert combined.shape == (2, 50, 70)
    np.testing.assert_allclose(combined, np.mean(list(single.values()), axis=0), atol=1e-5)
    np.testing.assert_allclose(combined.sum(0), 1.0, atol=1e-5)
    assert not np.allclose(single[0.5], single[1.0])  # a scale is a different input, not a no-op
    with_tta = _predictor(tta=True, scales=(0.5, 1.0)).predict(image)
    assert with_tta.mask.shape == (50, 70)


def test_scales_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        _predictor(scales=(1.0, 0.0))
