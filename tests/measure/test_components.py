"""3D connected components: volumes and maximum Feret diameters against spheres of known radius."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medseg.data.phantoms.ct import sphere_phantom
from medseg.measure.components import feret_diameter_mm, label_components, largest_component_3d, measure_components


@pytest.mark.parametrize("spacing", [(1.5, 0.8, 0.8), (2.5, 0.7, 0.7), (1.0, 1.0, 1.0)])
@pytest.mark.parametrize("radius", [6.0, 10.0])
def test_sphere_volume_and_diameter_within_2_percent(spacing, radius):
    _, labels = sphere_phantom((48, 64, 64), spacing, 25.0, [((0.3, 0.2, 0.1), radius)])
    (component,) = measure_components(labels == 2, spacing)
    assert component.volume_ml == pytest.approx(4 / 3 * math.pi * radius**3 / 1000, rel=0.02)
    assert component.diameter_mm == pytest.approx(2 * radius, rel=0.02)


def test_components_are_26_connected_and_sorted_by_size():
    mask = np.zeros((6, 6, 6), bool)
    mask[1, 1, 1] = mask[2, 2, 2] = True  # corner neighbours: one component
    mask[4:6, 4:6, 4:6] = True
    assert label_components(mask)[1] == 2
    big, small = measure_components(mask, (1.0, 1.0, 1.0))
    assert (big.index, big.voxels, small.voxels) == (1, 8, 2)
    assert small.diameter_mm == pytest.approx(math.sqrt(3))
    assert measure_components(np.zeros((3, 3, 3), bool), (1, 1, 1)) == []


def test_flat_and_single_voxel_diameters():
    mask = np.zeros((3, 8, 8), bool)
    assert feret_diameter_mm(mask, (1, 1, 1)) == 0.0
    mask[1, 3, 3] = True
    assert feret_diameter_mm(mask, (1, 1, 1)) == 0.0
    mask[1, 1:7, 1:7] = True  # one slice: a flat square, 5 x 5 mm between centres
    assert feret_diameter_mm(mask, (2.0, 1.0, 1.0)) == pytest.approx(5 * math.sqrt(2))


def test_largest_component_weighted():
    mask = np.zeros((4, 10, 10), bool)
    mask[:, :2, :2] = True  # 16 voxels
    mask[:, 5:, 5:] = True  # 100 voxels
    weight = np.zeros_like(mask)
    weight[0, 0, 0] = True
    assert largest_component_3d(mask).sum() == 100
    assert largest_component_3d(mask, weight).sum() == 16
    assert not largest_component_3d(mask, np.zeros_like(mask)).any()


def test_labelling_inside_the_bounding_box_equals_labelling_the_whole_volume():
    from scipy import ndimage

    from medseg.measure.components import FULL_CONNECTIVITY, bounding_box

    rng = np.random.default_rng(1)
    mask = np.zeros((12, 30, 30), bool)
    mask[3:9, 8:25, 5:20] = rng.random((6, 17, 15)) < 0.3
    expected, count = ndimage.label(mask, structure=FULL_CONNECTIVITY)
    labels, found = label_components(mask)
    assert found == count and np.array_equal(labels, expected)
    low, high = np.argwhere(mask).min(axis=0), np.argwhere(mask).max(axis=0) + 1
    assert bounding_box(mask) == tuple(slice(int(a), int(b)) for a, b in zip(low, high, strict=True))
    weight = mask & (rng.random(mask.shape) < 0.5)
    sizes = np.bincount(expected[weight], minlength=count + 1)
    sizes[0] = 0
    assert np.array_equal(largest_component_3d(mask, weight), expected == np.argmax(sizes))
    # centroids count from the volume's corner, not the box's
    cube = np.zeros((10, 20, 20), bool)
    cube[6:9, 10:13, 14:17] = True
    (component,) = measure_components(cube, (1.0, 1.0, 1.0))
    assert component.centroid_zyx == (7.0, 11.0, 15.0)
    assert bounding_box(np.zeros((2, 2, 2), bool)) is None and not largest_component_3d(np.zeros((2, 2), bool)).any()


def test_fill_holes_in_the_box_equals_scipy_on_random_masks():
    from scipy import ndimage

    from medseg.measure.components import fill_holes

    rng = np.random.default_rng(0)
    for density in (0.2, 0.5, 0.8):
        mask = rng.random((40, 60)) < density
        mask[:3], mask[:, :2] = False, False
        np.testing.assert_array_equal(fill_holes(mask), ndimage.binary_fill_holes(mask))
    ring = np.zeros((30, 30), bool)
    ring[5:25, 5:25] = True
    ring[10:20, 10:20] = False  # a hole
    ring[0, 0] = True  # a speck far away widens the box to the border
    np.testing.assert_array_equal(fill_holes(ring), ndimage.binary_fill_holes(ring))
    assert fill_holes(ring)[15, 15] and not fill_holes(np.zeros((4, 4), bool)).any()
