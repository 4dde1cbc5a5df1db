"""Overlay colours: the prediction's outline stands out on red (endoscopy) tissue."""

from __future__ import annotations

import numpy as np

from medseg.reports.overlays import COLORS, overlay, to_rgb8


def test_prediction_outline_contrasts_with_red_tissue():
    tissue = np.zeros((40, 40, 3), np.uint8)
    tissue[..., 0], tissue[..., 1], tissue[..., 2] = 200, 60, 50  # reddish mucosa
    mask = np.zeros((40, 40), np.uint8)
    mask[10:30, 10:30] = 1
    drawn = overlay(tissue, mask)
    outline = drawn[(drawn != to_rgb8(tissue)).any(axis=2)]
    assert len(outline) and (outline == COLORS[0]).all()
    for color in COLORS:  # no colour is close to red: a clear difference in green or blue
        assert max(color[1], color[2]) >= 200
