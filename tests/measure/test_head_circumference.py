import numpy as np
import pytest

from medseg.data.pixel_sizes import read_pixel_size_csv
from medseg.data.readers.hc18 import read_hc18
from medseg.measure.ellipse import Ellipse, rasterize_ellipse
from medseg.measure.head_circumference import head_circumference, measure_ellipse

from ..conftest import shared_dataset


@pytest.mark.parametrize("seed", range(5))
def test_hc_of_synthetic_ellipse_mask_matches_known_perimeter(seed):
    rng = np.random.default_rng(seed)
    b = rng.uniform(60, 120)
    truth = Ellipse(
        400 + rng.uniform(-50, 50), 270 + rng.uniform(-30, 30), b * rng.uniform(1.05, 1.4), b, rng.uniform(0, np.pi)
    )
    pixel_size = rng.uniform(0.05, 0.3)
    measured = head_circumference(rasterize_ellipse(truth, (540, 800)), pixel_size)
    assert measured.hc_mm == pytest.approx(truth.perimeter * pixel_size, abs=0.1)


def test_measurement_is_in_hc18_submission_units():
    measured = measure_ellipse(Ellipse(100, 50, 40, 20, 3.5), 0.2)
    assert measured.center_x_mm == pytest.approx(20) and measured.center_y_mm == pytest.approx(10)
    assert measured.semi_axes_a_mm == pytest.approx(8) and measured.semi_axes_b_mm == pytest.approx(4)
    assert measured.angle_rad == pytest.approx(3.5 - np.pi)  # the same ellipse, angle folded into [0, pi)


def test_empty_mask_gives_none():
    assert head_circumference(np.zeros((30, 30), np.uint8), 0.1) is None


def test_synthetic_hc18_masks_reproduce_csv_hc(hc18_synthetic):
    cases = read_hc18(hc18_synthetic)
    errors = [head_circumference(c.mask, c.spacing_mm[0]).hc_mm - c.meta["reference"]["hc_mm"] for c in cases]
    assert np.mean(np.abs(errors)) < 0.1


@pytest.mark.realdata
def test_real_hc18_masks_reproduce_csv_hc():
    root = shared_dataset("hc18")
    cases = read_hc18(root, limit=40)
    errors = [head_circumference(c.mask, c.spacing_mm[0]).hc_mm - c.meta["reference"]["hc_mm"] for c in cases]
    assert np.mean(np.abs(errors)) < 0.1  # measured ~0.01 mm
    table = read_pixel_size_csv(root / "training_set_pixel_size_and_HC.csv")
    assert len(cases) == 40
    for case in cases:  # each case carries its own CSV row: the comparison above is like for like
        row = table[case.source.name]
        assert case.meta["reference"]["hc_mm"] == row["hc_mm"] and case.spacing_mm == (row["pixel_size"],) * 2
