"""Organ and lesion volumes, burden and diameters from label volumes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medseg.data.phantoms.ct import sphere_phantom
from medseg.measure.volumes import label_roles, measure_label_volume

CLASSES = ["background", "liver", "tumour"]


def _ml(radius):
    return 4 / 3 * math.pi * radius**3 / 1000


def test_label_roles_from_class_names():
    roles = label_roles(CLASSES)
    assert (roles.organ, roles.organ_name, roles.lesion, roles.lesion_name) == (1, "liver", 2, "tumour")
    assert label_roles(["background", "kidney_tumor", "kidney"]).organ == 2
    assert label_roles(["background", "liver"]).lesion is None
    assert label_roles(["background", "lesion"]).organ is None


def test_sphere_phantom_measured_within_2_percent():
    spacing = (1.5, 0.8, 0.8)
    _, labels = sphere_phantom((48, 96, 96), spacing, 30.0, [((0.0, 8.0, -8.0), 10.0), ((0.0, -12.0, 12.0), 6.0)])
    row, lesions = measure_label_volume(labels, spacing, CLASSES, np.eye(4))
    assert row["liver_ml"] == pytest.approx(_ml(30), rel=0.02)  # liver including its tumours
    assert row["tumour_ml"] == pytest.approx(_ml(10) + _ml(6), rel=0.02)
    assert row["tumour_burden_pct"] == pytest.approx(100 * (_ml(10) + _ml(6)) / _ml(30), rel=0.03)
    assert row["n_tumours"] == 2
    assert [t["tumour"] for t in lesions] == [1, 2]
    assert lesions[0]["volume_ml"] == pytest.approx(_ml(10), rel=0.02)
    assert lesions[1]["volume_ml"] == pytest.approx(_ml(6), rel=0.02)
    assert lesions[0]["diameter_mm"] == pytest.approx(20.0, rel=0.02)
    assert lesions[1]["diameter_mm"] == pytest.approx(12.0, rel=0.02)
    assert row["largest_tumour_diameter_mm"] == lesions[0]["diameter_mm"]
    # Centroid through the affine: voxel (x, y, z) indices with the identity.
    assert lesions[0]["z_mm"] == pytest.approx(23.5)


def test_no_tumour_and_no_liver():
    labels = np.zeros((4, 5, 5), np.uint8)
    row, lesions = measure_label_volume(labels, (1.0, 1.0, 1.0), CLASSES)
    assert row["liver_ml"] == 0 and row["n_tumours"] == 0 and lesions == []
    assert math.isnan(row["tumour_burden_pct"])
    row, _ = measure_label_volume(labels + 1, (2.0, 1.0, 1.0), ["background", "liver"])
    assert row == {"liver_ml": pytest.approx(0.2)}


# A CT-like grid (0.7 x 0.7 mm pixels, 2.5 mm slices): a liver of radius 40 mm with tumours of radius
# 10 and 6 mm and a 2 mm speck (33.5 mm3, under the 65 mm3 minimum).
CT_SPACING = (2.5, 0.7, 0.7)
CT_SHAPE = (40, 128, 128)
CT_TUMOURS = [((2.5, 12.0, -12.0), 10.0), ((-5.0, -15.0, 15.0), 6.0), ((-10.0, -14.0, -16.0), 2.0)]


def test_tumour_list_leaves_out_components_below_the_minimum():
    from medseg.data.phantoms.ct import display_affine

    _, labels = sphere_phantom(CT_SHAPE, CT_SPACING, 40.0, CT_TUMOURS)
    affine = display_affine(CT_SPACING, CT_SHAPE)
    row, lesions = measure_label_volume(labels, CT_SPACING, CLASSES, affine, min_lesion_mm3=65.0)
    assert [t["tumour"] for t in lesions] == [1, 2]
    assert row["n_tumours"] == 2 and row["n_tumours_below_min"] == 1
    assert row["tumour_below_min_ml"] == pytest.approx(_ml(2), rel=0.3)  # a 2 mm sphere on 2.5 mm slices
    assert row["min_tumour_volume_mm3"] == 65.0
    for lesion, ((dz, dy, dx), radius) in zip(lesions, CT_TUMOURS, strict=False):
        assert lesion["volume_ml"] == pytest.approx(_ml(radius), rel=0.03)
        assert lesion["diameter_mm"] == pytest.approx(2 * radius, rel=0.03)
        # centre in voxels (x, y, z of the array) and in mm through the affine
        expected = [(n - 1) / 2 + d / s for n, d, s in zip(CT_SHAPE, (dz, dy, dx), CT_SPACING, strict=True)]
        found = [lesion["voxel_k"], lesion["voxel_j"], lesion["voxel_i"]]
        assert found == pytest.approx(expected, abs=0.1)
        world = affine @ [*expected[::-1], 1.0]
        assert [lesion["x_mm"], lesion["y_mm"], lesion["z_mm"]] == pytest.approx(world[:3], abs=0.1)
    assert row["largest_tumour_diameter_mm"] == lesions[0]["diameter_mm"]
    # every tumour voxel of the mask counts in the volume and the burden, the speck included
    tumour_ml = sum(_ml(r) for _, r in CT_TUMOURS)
    assert row["tumour_ml"] == pytest.approx(tumour_ml, rel=0.03)
    assert row["tumour_ml"] == pytest.approx(sum(t["volume_ml"] for t in lesions) + row["tumour_below_min_ml"])
    assert row["liver_ml"] == pytest.approx(_ml(40), rel=0.02)
    assert row["liver_without_tumour_ml"] == pytest.approx(_ml(40) - tumour_ml, rel=0.02)
    assert row["tumour_burden_pct"] == pytest.approx(100 * tumour_ml / _ml(40), rel=0.03)
    # 0 lists every component; a minimum above the largest lists none
    row, lesions = measure_label_volume(labels, CT_SPACING, CLASSES, affine)
    assert len(lesions) == 3 and row["n_tumours_below_min"] == 0
    row, lesions = measure_label_volume(labels, CT_SPACING, CLASSES, affine, min_lesion_mm3=5000.0)
    assert lesions == [] and row["n_tumours_below_min"] == 3 and row["largest_tumour_diameter_mm"] == 0.0


def test_minimum_is_inclusive_and_in_mm3():
    labels = np.zeros((6, 10, 10), np.uint8)
    labels[1:3, 1:4, 1:4] = 2  # 18 voxels of 2 x 1 x 1 mm = 36 mm3
    (lesion,) = measure_label_volume(labels, (2.0, 1.0, 1.0), CLASSES, min_lesion_mm3=36.0)[1]
    assert lesion["voxels"] == 18 and lesion["volume_ml"] == pytest.approx(0.036)
    row, lesions = measure_label_volume(labels, (2.0, 1.0, 1.0), CLASSES, min_lesion_mm3=36.5)
    assert lesions == [] and row["tumour_below_min_ml"] == pytest.approx(0.036)


def test_volume_summary_is_one_line_with_units():
    from medseg.measure.volumes import volume_summary

    _, labels = sphere_phantom(CT_SHAPE, CT_SPACING, 40.0, CT_TUMOURS)
    row, _ = measure_label_volume(labels, CT_SPACING, CLASSES, min_lesion_mm3=65.0)
    line = volume_summary(row)
    assert line.startswith(
        f"liver {row['liver_ml']:.1f} ml ({row['liver_without_tumour_ml']:.1f} ml without tumours); "
    )
    assert "2 tumours, " in line and f"burden {row['tumour_burden_pct']:.1f}%" in line
    assert f"largest {row['largest_tumour_diameter_mm']:.1f} mm" in line and "1 below 65 mm3 not listed" in line
    one, _ = measure_label_volume(labels, CT_SPACING, CLASSES, min_lesion_mm3=1000.0)
    assert "1 tumour, " in volume_summary(one) and "2 below 1000 mm3" in volume_summary(one)
    none, _ = measure_label_volume(np.zeros((3, 4, 4), np.uint8), (1.0, 1.0, 1.0), CLASSES)
    assert volume_summary(none) == "liver 0.0 ml (0.0 ml without tumours); 0 tumours, 0.0 ml"
    assert volume_summary({"liver_ml": 12.25}) == "liver 12.2 ml"
