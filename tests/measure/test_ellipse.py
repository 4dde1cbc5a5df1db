import math

import numpy as np
import pytest

from medseg.measure.ellipse import (
    Ellipse,
    fit_ellipse,
    fit_ellipse_to_mask,
    largest_component,
    ramanujan_perimeter,
    rasterize_ellipse,
)


def test_ramanujan_matches_circle_and_numeric_integral():
    assert ramanujan_perimeter(10, 10) == pytest.approx(2 * math.pi * 10)
    a, b = 30.0, 18.0
    t = np.linspace(0, 2 * np.pi, 200001)
    numeric = np.trapezoid(np.sqrt((a * np.sin(t)) ** 2 + (b * np.cos(t)) ** 2), t)
    assert ramanujan_perimeter(a, b) == pytest.approx(numeric, rel=1e-6)


@pytest.mark.parametrize("angle", [0.0, 0.4, 1.2, 2.8])
def test_fit_of_rasterised_ellipse_recovers_parameters(angle):
    truth = Ellipse(80.3, 60.7, 45.0, 30.0, angle)
    fitted = fit_ellipse_to_mask(rasterize_ellipse(truth, (130, 170)))
    assert fitted.cx == pytest.approx(truth.cx, abs=0.1)
    assert fitted.cy == pytest.approx(truth.cy, abs=0.1)
    assert fitted.perimeter == pytest.approx(truth.perimeter, rel=2e-3)
    assert {round(fitted.a), round(fitted.b)} == {45, 30}


def test_fit_needs_five_points():
    with pytest.raises(ValueError, match="at least 5"):
        fit_ellipse(np.zeros((4, 2)))


def test_largest_component_keeps_biggest_and_fills_holes():
    mask = np.zeros((40, 40), bool)
    mask[5:25, 5:25] = True
    mask[10:15, 10:15] = False  # hole
    mask[30:33, 30:33] = True  # fragment
    kept = largest_component(mask)
    assert kept[12, 12] and not kept[31, 31]
    assert kept.sum() == 400


def test_empty_mask_has_no_ellipse():
    assert fit_ellipse_to_mask(np.zeros((20, 20), bool)) is None


def test_trimmed_fit_ignores_a_bulge_that_pulls_the_plain_fit():
    from medseg.measure.ellipse import (
        Ellipse,
        ellipse_outline_points,
        fit_ellipse,
        fit_ellipse_trimmed,
        point_distances,
    )

    truth = Ellipse(100.0, 80.0, 60.0, 45.0, 0.4)
    points = ellipse_outline_points(truth, 400)
    assert point_distances(truth, points).max() < 1e-6
    bulged = points.copy()
    side = slice(0, 40)  # a tenth of the outline pushed 12 px outwards
    bulged[side] += (
        12
        * (bulged[side] - [truth.cx, truth.cy])
        / np.linalg.norm(bulged[side] - [truth.cx, truth.cy], axis=1, keepdims=True)
    )
    plain, trimmed = fit_ellipse(bulged), fit_ellipse_trimmed(bulged, keep=0.85)
    assert abs(trimmed.perimeter - truth.perimeter) < 0.3 * abs(plain.perimeter - truth.perimeter)
    assert abs(trimmed.perimeter - truth.perimeter) < 1.0
    with pytest.raises(ValueError, match="keep"):
        fit_ellipse_trimmed(points, keep=0.2)


def test_rasterized_ellipse_matches_the_full_grid_formula_anywhere_in_or_out_of_the_image():
    from medseg.measure.ellipse import Ellipse, rasterize_ellipse

    def full_grid(e, shape):
        rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
        dx, dy = cols - e.cx, rows - e.cy
        u = dx * math.cos(e.angle) + dy * math.sin(e.angle)
        v = -dx * math.sin(e.angle) + dy * math.cos(e.angle)
        return (u / max(e.a, 1e-6)) ** 2 + (v / max(e.b, 1e-6)) ** 2 <= 1.0

    rng = np.random.default_rng(1)
    for _ in range(300):
        centre = rng.uniform(-30, 130), rng.uniform(-30, 90)
        e = Ellipse(*centre, rng.uniform(0, 80), rng.uniform(0, 60), rng.uniform(-4, 4))
        np.testing.assert_array_equal(rasterize_ellipse(e, (60, 100)), full_grid(e, (60, 100)))
    assert not rasterize_ellipse(Ellipse(500.0, 500.0, 3.0, 3.0, 0.0), (60, 100)).any()
