"""The shared prediction pipeline: batching, MONAI sliding windows, multi-scale inference."""

import dataclasses

import numpy as np
import pytest
import torch

from medseg.config import Config
from medseg.data.phantoms.fetal_head import fetal_head_image
from medseg.errors import ConfigError
from medseg.inference import Predictor
from medseg.inference.onnx_backend import load_onnx_predictor
from medseg.models import create_model


def _images(n, shape):
    rng = np.random.default_rng(5)
    return [fetal_head_image(rng, shape)[0] for _ in range(n)]


def test_batches_give_the_same_result_as_single_images(tiny_run):
    predictor = Predictor.from_run(tiny_run, device="cpu", batch_size=3)
    images = _images(4, (96, 128)) + _images(1, (60, 90))  # sizes may differ within a batch
    batched = predictor.predict_batch(images)
    for image, prediction in zip(images, batched, strict=True):
        single = predictor.predict(image)
        assert prediction.mask.shape == image.shape
        assert np.abs(prediction.probabilities - single.probabilities).max() < 1e-5


def test_sliding_window_covers_large_images_at_their_own_resolution(exported_run):
    image = _images(1, (150, 210))[0]  # larger than the 48x64 training size in both directions
    torch_sw = Predictor.from_run(exported_run, device="cpu", sliding_window=True)
    onnx_sw = load_onnx_predictor(exported_run / "model.onnx", sliding_window=True, batch_size=2)
    assert torch_sw.window == (48, 64)
    ours, reference = onnx_sw.predict(image), torch_sw.predict(image)
    assert ours.mask.shape == image.shape
    assert np.abs(ours.probabilities - reference.probabilities).max() < 1e-4
    # One window the size of the whole image: the windows' blend must agree with it almost everywhere.
    whole = dataclasses.replace(torch_sw.config.infer, window=list(image.shape))
    whole_predictor = Predictor(torch_sw.models, dataclasses.replace(torch_sw.config, infer=whole), "cpu")
    whole_predictor.sliding_window = True
    agreement = (whole_predictor.probabilities(image).argmax(0) == reference.probabilities.argmax(0)).mean()
    assert agreement > 0.9


def test_sliding_window_is_a_config_switch(tiny_run):
    predictor = Predictor.from_run(tiny_run, device="cpu")
    assert not predictor.sliding_window
    config = dataclasses.replace(
        predictor.config, infer=dataclasses.replace(predictor.config.infer, sliding_window=True)
    )
    assert Predictor(predictor.models, config, "cpu").sliding_window


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


def test_multi_scale_is_refused_with_the_sliding_window_rather_than_ignored():
    with pytest.raises(ConfigError, match="sliding window"):
        _predictor(sliding_window=True, scales=(1.0, 1.2))
    assert _predictor(sliding_window=True, scales=(1.0,)).sliding_window
