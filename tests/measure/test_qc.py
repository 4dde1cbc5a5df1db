"""QC signals on phantoms built to trigger each one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medseg.measure.ellipse import Ellipse, fit_ellipse_to_mask, rasterize_ellipse
from medseg.measure.qc import agreement_signals, boundary_entropy, component_signals, dice, ellipse_fit_residual

HEAD = Ellipse(64.0, 48.0, 40.0, 28.0, 0.3)


def test_one_head_is_one_component_and_two_blobs_are_not():
    head = rasterize_ellipse(HEAD, (96, 128))
    assert component_signals(head) == {"qc_components": 1.0, "qc_largest_share": 1.0}
    blobs = head.copy()
    blobs[2:12, 2:12] = True  # a second, small region (100 px) far from the head
    signals = component_signals(blobs)
    assert signals["qc_components"] == 2.0
    assert signals["qc_largest_share"] == pytest.approx(head.sum() / (head.sum() + 100))
    assert component_signals(np.zeros((8, 8), bool)) == {"qc_components": 0.0, "qc_largest_share": 0.0}


def test_fit_residual_is_small_for_an_ellipse_and_large_for_a_ragged_edge():
    head = rasterize_ellipse(HEAD, (96, 128))
    smooth = ellipse_fit_residual(head, fit_ellipse_to_mask(head), pixel_size_mm=0.2)
    assert smooth["qc_fit_residual_mean_mm"] < 0.1  # under half a pixel
    ragged = head.copy()
    rows, cols = np.nonzero(head)
    ragged[np.clip(rows[::7] - 6, 0, 95), cols[::7]] = True  # spikes above the head
    ragged[:, 60:68] &= np.arange(96)[:, None] > 40  # a notch cut into the top
    rough = ellipse_fit_residual(ragged, fit_ellipse_to_mask(ragged), pixel_size_mm=0.2)
    assert rough["qc_fit_residual_max_mm"] > 1.0 > smooth["qc_fit_residual_max_mm"] * 3
    assert rough["qc_fit_residual_mean_mm"] > smooth["qc_fit_residual_mean_mm"] * 2
    # Millimetres scale with the pixel size.
    double = ellipse_fit_residual(ragged, fit_ellipse_to_mask(ragged), pixel_size_mm=0.4)
    assert double["qc_fit_residual_max_mm"] == pytest.approx(2 * rough["qc_fit_residual_max_mm"])
    assert math.isnan(ellipse_fit_residual(head, None, 0.2)["qc_fit_residual_mean_mm"])


def test_agreement_signals():
    a = rasterize_ellipse(HEAD, (96, 128))
    shifted = np.roll(a, 10, axis=1)
    same = agreement_signals([a, a, a], [150.0, 150.0, 150.0])
    assert same == {"qc_tta_dice_min": 1.0, "qc_tta_hc_spread_mm": 0.0}
    moved = agreement_signals([a, a, shifted], [150.0, 151.0, 158.5], prefix="qc_fold")
    assert moved["qc_fold_dice_min"] == pytest.approx(dice(a, shifted)) and moved["qc_fold_dice_min"] < 0.9
    assert moved["qc_fold_hc_spread_mm"] == pytest.approx(8.5)
    assert agreement_signals([a, a], [150.0, math.nan])["qc_tta_hc_spread_mm"] == math.inf
    assert math.isnan(agreement_signals([a, a], [math.nan, math.nan])["qc_tta_hc_spread_mm"])


def test_boundary_entropy_is_low_for_a_sharp_edge_and_high_for_a_blurred_one():
    head = rasterize_ellipse(HEAD, (96, 128)).astype(np.float32)
    sharp = np.stack([1 - head, head]) * 0.998 + 0.001
    from scipy import ndimage

    soft = ndimage.gaussian_filter(head, 4)
    blurred = np.stack([1 - soft, soft])
    low = boundary_entropy(sharp, head > 0)["qc_boundary_entropy"]
    high = boundary_entropy(blurred, head > 0)["qc_boundary_entropy"]
    assert low < 0.02 and high > 0.3
    assert math.isnan(boundary_entropy(sharp, np.zeros_like(head, bool))["qc_boundary_entropy"])


def test_volume_spread_signals():
    from medseg.measure.qc import volume_spread_signals

    signals = volume_spread_signals(
        [{"liver_ml": 100.0, "tumour_ml": 0.0, "n_tumours": 0}, {"liver_ml": 90.0, "tumour_ml": 2.0}]
    )
    assert signals["qc_liver_ml_spread"] == 10 and signals["qc_liver_spread_pct"] == 10
    assert signals["qc_tumour_ml_spread"] == 2 and math.isnan(signals["qc_tumour_spread_pct"])
    assert "qc_n_tumours_ml_spread" not in signals and volume_spread_signals([]) == {}
