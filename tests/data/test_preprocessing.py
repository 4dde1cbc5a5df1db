"""Preprocessing (window, median, equalisation, crop) and its alignment of image and mask."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import ndimage

from medseg.config import AugmentConfig, DataConfig, config_from_dict
from medseg.data.case import Case
from medseg.data.dataset import SegmentationDataset, build_augmentation
from medseg.data.preprocessing import prepare_image, prepare_mask
from medseg.data.transforms import (
    crop_region,
    equalize,
    make_letterbox,
    median_filter,
    preprocess_intensity,
    unletterbox,
    valid_region,
    window_intensity,
)


def test_liver_window():
    hu = np.array([[-1000, -50, 100], [250, 400, 25]], np.int16)
    out = window_intensity(hu, 100, 300)
    np.testing.assert_allclose(out, [[0, 0, 0.5], [1, 1, 0.25]], atol=1e-6)
    assert out.dtype == np.float32
    with pytest.raises(ValueError, match="width"):
        window_intensity(hu, 100, 0)


def test_median_filter_removes_salt_noise():
    image = np.full((20, 20), 10.0, np.float32)
    image[5, 5] = image[12, 7] = 255
    np.testing.assert_array_equal(median_filter(image, 3), np.full((20, 20), 10.0))
    rgb = np.repeat(image[:, :, None], 3, axis=2)
    assert median_filter(rgb, 3).max() == 10
    assert median_filter(image, 0) is image
    with pytest.raises(ValueError, match="odd"):
        median_filter(image, 4)


@pytest.mark.parametrize("method", ["hist", "clahe"])
def test_equalisation_is_monotonic_and_spreads_contrast(method):
    rng = np.random.default_rng(0)
    image = (rng.normal(100, 5, (64, 64)).clip(0, 255)).astype(np.uint8)
    out = equalize(image, method)
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
    assert out.std() > (image / 255.0).std() * 3
    if method == "hist":  # a global mapping: brighter stays brighter
        order = np.argsort(image.ravel(), kind="stable")
        assert np.all(np.diff(out.ravel()[order]) >= -1e-6)
    assert equalize(image, "none") is image
    with pytest.raises(ValueError, match="unknown equalisation"):
        equalize(image, "gamma")


def test_crop_region():
    image = np.zeros((40, 50), np.float32)
    image[10:20, 15:35] = 5
    assert crop_region(image) is None
    assert crop_region(image, [2, 3, 4, 5]) == (2, 4, 35, 41)
    assert crop_region(image, None, 1.0) == (10, 15, 10, 20)
    assert crop_region(image, [12, 0, 0, 0], 1.0) == (12, 15, 8, 20)
    assert crop_region(np.zeros((8, 8)), None, 1.0) is None  # nothing above the threshold: no crop
    with pytest.raises(ValueError, match="removes the whole 40x50 image"):
        crop_region(image, [20, 20, 0, 0])
    with pytest.raises(ValueError, match="four non-negative"):
        crop_region(image, [1, 2])


def test_cropped_letterbox_round_trip_pads_background():
    box = make_letterbox((40, 50), (32, 32), region=(10, 15, 10, 20))
    assert box.source == (10, 20) and box.inner == (16, 32)
    scores = np.zeros((2, 32, 32), np.float32)
    scores[1] = 1  # foreground everywhere inside the crop
    back = unletterbox(scores, box)
    assert back.shape == (2, 40, 50)
    assert back[1, 10:20, 15:35].min() == 1 and back[1].sum() == 200
    assert back[0, 0, 0] == 1  # outside the crop: certain background
    with pytest.raises(ValueError, match="does not fit"):
        make_letterbox((40, 50), (32, 32), region=(35, 0, 10, 10))


def test_config_keys_load_from_yaml_values():
    cfg = config_from_dict(
        {"data": {"window": [100, 300], "median_filter": 3, "equalize": "clahe", "crop": [1, 2, 3, 4]}}
    ).data
    assert cfg.window == [100.0, 300.0] and cfg.median_filter == 3 and cfg.crop == [1, 2, 3, 4]
    assert DataConfig().window is None and DataConfig().equalize == "none"


def test_prepare_image_windows_ct_and_predictions_come_back_uncropped():
    hu = np.full((60, 80), -1000, np.int16)
    hu[10:50, 10:70] = 40
    hu[20:30, 20:40] = 200
    cfg = DataConfig(image_size=[32, 32], window=[100, 300], normalize="none", crop_foreground=-500)
    image, box = prepare_image(hu, cfg)
    assert box.region == (10, 10, 40, 60)  # the body's bounding box
    assert image.min() >= 0 and image.max() <= 1 and image.max() == pytest.approx(250 / 300, abs=0.02)
    mask = prepare_mask(Case("c", hu, (hu == 200).astype(np.uint8)), box, cfg)
    bright = image[0] > (90 / 300 + 250 / 300) / 2
    assert (bright == mask.astype(bool)).mean() > 0.98
    scores = np.stack([1 - mask, mask]).astype(np.float32)
    back = unletterbox(scores, box).argmax(0)
    assert back.shape == hu.shape
    assert (back == (hu == 200)).mean() > 0.99


def _edge_band(mask: np.ndarray, width: int = 1) -> np.ndarray:
    structure = np.ones((3, 3), bool)
    grown = ndimage.binary_dilation(mask, structure, iterations=width)
    shrunk = ndimage.binary_erosion(mask, structure, iterations=width)
    return grown & ~shrunk


def _object_image(height, width, top, left, h, w, low, high, rgb):
    image = np.full((height, width), low, np.float32)
    image[top : top + h, left : left + w] = high
    mask = (image > (low + high) / 2).astype(np.uint8)
    if rgb:
        image = np.stack([image, image * 0.8, image * 0.6], axis=2)
    return image, mask


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    height=st.integers(24, 70),
    width=st.integers(24, 70),
    frac=st.tuples(*[st.floats(0.1, 0.5)] * 4),
    low=st.floats(0, 40),
    high=st.floats(150, 240),
    window=st.booleans(),
    median=st.sampled_from([0, 3]),
    equalize_method=st.sampled_from(["none", "hist", "clahe"]),
    normalize_method=st.sampled_from(["zscore", "minmax", "none"]),
    crop=st.booleans(),
    crop_foreground=st.booleans(),
    keep_aspect=st.booleans(),
    rgb=st.booleans(),
)
def test_preprocessing_keeps_image_and_mask_aligned(
    height, width, frac, low, high, window, median, equalize_method, normalize_method, crop, crop_foreground,
    keep_aspect, rgb,
):  # fmt: skip
    """mask = thresholded image; after preprocessing the mask still equals the thresholded image (edges aside)."""
    top, left = int(frac[0] * height), int(frac[1] * width)
    h, w = max(12, int(frac[2] * height)), max(12, int(frac[3] * width))
    image, mask = _object_image(height, width, top, left, h, w, low, high, rgb)
    cfg = DataConfig(
        image_size=[40, 48],
        keep_aspect=keep_aspect,
        channels=3 if rgb else 1,
        normalize=normalize_method,
        window=[100, 300] if window else None,
        median_filter=median,
        equalize=equalize_method,
        crop=[2, 1, 3, 2] if crop else None,
        crop_foreground=(low + high) / 2 if crop_foreground else None,
    )
    prepared, box = prepare_image(image, cfg)
    prepared_mask = prepare_mask(Case("c", image, mask), box, cfg).astype(bool)
    assert prepared.shape == (cfg.channels, 40, 48) and prepared_mask.shape == (40, 48)
    valid = valid_region(box)
    grey = prepared[0]
    inside = ndimage.binary_erosion(prepared_mask, np.ones((3, 3)), iterations=2) & valid
    outside = ndimage.binary_erosion(~prepared_mask & valid, np.ones((3, 3)), iterations=2)
    assert inside.any()  # an object of 12 pixels a side or more outlives the resize and the erosion
    if crop_foreground:  # cropped to the object's bounding box: no background is left
        assert not outside.any() and prepared_mask[valid].mean() > 0.9
        return
    assert outside.any()
    threshold = (grey[inside].mean() + grey[outside].mean()) / 2
    assert grey[inside].mean() > grey[outside].mean()  # every step is monotonic
    disagree = ((grey > threshold) != prepared_mask) & valid
    assert not (disagree & ~_edge_band(prepared_mask, 2)).any()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    rotate_deg=st.floats(0, 45),
    scale=st.floats(0, 0.3),
    flip=st.booleans(),
    frac=st.tuples(*[st.floats(0.15, 0.45)] * 4),
)
def test_geometric_augmentation_keeps_image_and_mask_aligned(seed, rotate_deg, scale, flip, frac):
    size = 48
    top, left, h, w = (max(8, int(f * size)) for f in frac)
    image, mask = _object_image(size, size, top, left, h, w, 0.0, 1.0, rgb=False)
    # A second channel of ones marks where the transform moved real pixels (padding becomes 0).
    item = {
        "image": torch.from_numpy(np.stack([image, np.ones_like(image)])),
        "mask": torch.from_numpy(mask[None] * 1.0),
    }
    augment = build_augmentation(
        AugmentConfig(flip=flip, rotate_deg=rotate_deg, scale=scale, intensity=0, prob=1.0), None
    )
    augment.set_random_state(seed)
    out = augment(item)
    moved, moved_mask = np.asarray(out["image"]), np.asarray(out["mask"])[0] > 0.5
    valid = moved[1] > 0.999
    disagree = ((moved[0] > 0.5) != moved_mask) & valid
    assert not (disagree & ~_edge_band(moved_mask, 1)).any()
    # MONAI samples with grid factors in [1 - scale, 1 + scale]: the object's side grows by up to
    # 1 / (1 - scale); it may be clipped at the border, but not lost.
    assert 0.3 * mask.sum() <= moved_mask.sum() <= 1.2 * mask.sum() / (1 - scale) ** 2


def test_intensity_augmentation_leaves_the_mask_and_the_ordering():
    image, mask = _object_image(32, 32, 8, 8, 12, 10, 0.2, 0.9, rgb=False)
    cases = [Case("c", (image * 255).astype(np.uint8), mask)]
    cfg = DataConfig(image_size=[32, 32], normalize="minmax")
    plain = SegmentationDataset(cases, cfg)[0]
    jittered_set = SegmentationDataset(
        cases, cfg, AugmentConfig(flip=False, rotate_deg=0, scale=0, intensity=0.3, prob=1.0)
    )
    jittered_set.set_random_state(3)
    jittered = jittered_set[0]
    assert torch.equal(jittered["mask"], plain["mask"])
    assert not torch.allclose(jittered["image"], plain["image"])
    inside, outside = plain["mask"][0].bool(), ~plain["mask"][0].bool()
    assert jittered["image"][0][inside].mean() > jittered["image"][0][outside].mean()


def test_preprocess_intensity_order_and_identity():
    image = np.arange(16, dtype=np.float32).reshape(4, 4)
    assert preprocess_intensity(image) is image
    out = preprocess_intensity(image * 20, window=[100, 300], median_size=0, equalize_method="none")
    np.testing.assert_allclose(out, np.clip((image * 20 + 50) / 300, 0, 1), atol=1e-6)
    with pytest.raises(ValueError, match="centre, width"):
        preprocess_intensity(image, window=[100])


def test_window_and_foreground_crop_equal_monai():
    """The NumPy window and body crop give MONAI's ScaleIntensityRange and bounding box exactly."""
    from monai.transforms import ScaleIntensityRange
    from monai.transforms.utils import generate_spatial_bounding_box

    rng = np.random.default_rng(0)
    for _ in range(5):
        hu = rng.integers(-1024, 1500, size=(37, 53)).astype(np.int16)
        hu[rng.random(hu.shape) < 0.6] = -1000  # air around a patch of body
        for centre, width in ((100.0, 300.0), (40.0, 400.0), (-600.0, 1500.0)):
            monai = ScaleIntensityRange(centre - width / 2, centre + width / 2, 0.0, 1.0, clip=True)
            expected = np.asarray(monai(hu.astype(np.float32)), dtype=np.float32)
            np.testing.assert_array_equal(window_intensity(hu, centre, width), expected)
        body = np.zeros((37, 53), np.float32) - 1000
        top, left = rng.integers(0, 30), rng.integers(0, 40)
        body[top : top + rng.integers(1, 8), left : left + rng.integers(1, 12)] = 40
        start, end = generate_spatial_bounding_box(body[None], select_fn=lambda a: a > -500)
        expected_box = (int(start[0]), int(start[1]), int(end[0] - start[0]), int(end[1] - start[1]))
        assert crop_region(body, None, -500) == expected_box
        colour = np.repeat(body[..., None], 3, axis=2)
        assert crop_region(colour, None, -500) == expected_box
