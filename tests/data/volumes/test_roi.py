"""A cascade's region of interest: the organ's box with a margin, the cut volume's geometry, 2.5D slices."""

from __future__ import annotations

import numpy as np
import pytest

from medseg.data.phantoms.ct import display_affine, liver_phantom
from medseg.data.slice_options import SliceOptions
from medseg.data.volumes.base import Volume
from medseg.data.volumes.roi import crop_volume, region_box, with_context


def test_region_box_is_the_bounding_box_widened_by_the_margin_in_mm():
    mask = np.zeros((20, 50, 60), np.uint8)
    mask[5:9, 10:20, 30:41] = 1
    box = region_box(mask, (2.5, 0.8, 0.8), margin_mm=4.0)  # 2 slices, 5 pixels
    assert box == (slice(3, 11), slice(5, 25), slice(25, 46))
    assert region_box(mask, (2.5, 0.8, 0.8), margin_mm=100.0) == (slice(0, 20), slice(0, 50), slice(0, 60))
    assert region_box(np.zeros_like(mask), (1, 1, 1), 5.0) is None
    with pytest.raises(ValueError, match="margin_mm"):
        region_box(mask, (1, 1, 1), -1.0)


def test_a_cut_volume_keeps_its_voxels_where_they_were_in_space():
    array = np.arange(4 * 6 * 8, dtype=np.int16).reshape(4, 6, 8)
    volume = Volume(array, display_affine((2.0, 0.5, 0.7), array.shape))
    box = (slice(1, 3), slice(2, 5), slice(3, 7))
    cut = crop_volume(volume, box)
    assert cut.array.shape == (2, 3, 4) and cut.array[0, 0, 0] == array[1, 2, 3]
    corner = volume.affine @ np.array([3, 2, 1, 1.0])  # (x, y, z) of the box's first voxel
    np.testing.assert_allclose(cut.affine @ np.array([0, 0, 0, 1.0]), corner)
    assert cut.spacing_zyx == pytest.approx(volume.spacing_zyx)


def test_context_slices_are_the_neighbours_with_the_edges_repeated():
    array = np.stack([np.full((2, 3), k, np.int16) for k in range(5)])
    stacked = with_context(array, 1)
    assert stacked.shape == (5, 2, 3, 3)
    assert stacked[0, 0, 0].tolist() == [0, 0, 1] and stacked[2, 0, 0].tolist() == [1, 2, 3]
    assert stacked[4, 0, 0].tolist() == [3, 4, 4]
    assert with_context(array, 0) is array


def test_slice_options_cut_each_volume_to_its_labels_box_with_context():
    hu, labels = liver_phantom(np.random.default_rng(0), (16, 64, 64))
    volume = Volume(hu, display_affine((2.5, 0.8, 0.8), hu.shape))
    cases = SliceOptions(roi_margin_mm=4.0, context_slices=1).cases(volume, labels, "p", "p")
    box = region_box(labels, (2.5, 0.8, 0.8), 4.0)
    assert len(cases) == box[0].stop - box[0].start
    first = cases[0]
    assert first.image.shape == (box[1].stop - box[1].start, box[2].stop - box[2].start, 3)
    assert first.meta["roi_box"] == [box[0].start, box[1].start, box[2].start]
    np.testing.assert_array_equal(first.image[..., 1], hu[box[0].start, box[1], box[2]])
    np.testing.assert_array_equal(first.mask, labels[box[0].start, box[1], box[2]])
    assert sum(int((c.mask > 0).sum()) for c in cases) == int((labels > 0).sum())  # the whole liver is inside


@pytest.mark.parametrize("options", [{"roi_margin_mm": -1}, {"roi_margin_mm": "ten"}, {"context_slices": 9}])
def test_bad_roi_options_are_refused(options):
    with pytest.raises(ValueError, match="roi_margin_mm|context_slices"):
        SliceOptions(**options)
