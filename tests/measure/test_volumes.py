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
