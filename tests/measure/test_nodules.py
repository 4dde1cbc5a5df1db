"""Nodule sizes: area and longest diameter per connected region, in mm with a spacing, px without."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medseg.measure.nodules import largest_nodule, measure_nodules


def disc(shape, centre, radius):
    y, x = np.mgrid[: shape[0], : shape[1]]
    return (y - centre[0]) ** 2 + (x - centre[1]) ** 2 <= radius**2


def test_disc_diameter_and_area_in_pixels_without_spacing():
    mask = disc((64, 64), (30, 30), 10)
    (row,) = measure_nodules(mask)
    assert row["pixels"] == int(mask.sum()) and row["area_px2"] == mask.sum()
    assert row["diameter_px"] == pytest.approx(21, abs=1.0)  # 21 pixels across, outer edges
    assert row["equivalent_diameter_px"] == pytest.approx(20, abs=1.0)
    assert (row["centre_row_px"], row["centre_col_px"]) == pytest.approx((30, 30))
    assert not any(key.endswith(("_mm", "_mm2")) for key in row)


def test_spacing_gives_millimetres_and_handles_anisotropy():
    mask = np.zeros((40, 40), bool)
    mask[10:13, 5:25] = True  # 3 rows x 20 columns
    (row,) = measure_nodules(mask, spacing_mm=(2.0, 0.5))
    assert row["area_mm2"] == pytest.approx(60 * 1.0)
    # longest extent: 20 columns of 0.5 mm against 3 rows of 2 mm
    assert 10.0 < row["diameter_mm"] < math.hypot(10, 6)
    assert row["equivalent_diameter_mm"] == pytest.approx(2 * math.sqrt(60 / math.pi))


def test_several_nodules_largest_first_and_empty_mask():
    mask = disc((64, 64), (15, 15), 3) | disc((64, 64), (45, 45), 8)
    rows = measure_nodules(mask)
    assert [r["nodule"] for r in rows] == [1, 2] and rows[0]["pixels"] > rows[1]["pixels"]
    assert measure_nodules(mask, min_pixels=50)[0]["pixels"] == rows[0]["pixels"]
    assert len(measure_nodules(mask, min_pixels=50)) == 1
    one = np.zeros((5, 5), bool)
    one[2, 2] = True
    assert measure_nodules(one)[0]["diameter_px"] == 1.0
    assert largest_nodule(mask)["nodules"] == 2
    empty = largest_nodule(np.zeros((8, 8), bool), (0.7, 0.7))
    assert empty["nodules"] == 0 and math.isnan(empty["diameter_mm"])
    with pytest.raises(ValueError, match="2D"):
        measure_nodules(np.zeros((2, 3, 3), bool))
