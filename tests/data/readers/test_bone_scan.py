"""Bone scan reader: views, label schemes, patient groups, PNG and DICOM."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from medseg.data.phantoms import write_bone_scan_dataset
from medseg.data.readers import check_dataset, read_dataset
from medseg.data.readers.bone_scan import to_scheme
from medseg.data.splits import split_cases
from medseg.errors import DataError


def test_both_views_four_segments(bone_root):
    cases = read_dataset("bone_scan", bone_root)
    assert len(cases) == 8
    assert [c.id for c in cases[:2]] == ["P000_anterior", "P000_posterior"]
    assert {c.meta["view"] for c in cases} == {"anterior", "posterior"}
    assert cases[0].group == cases[1].group == "P000"
    assert cases[0].image.dtype == np.uint16 and cases[0].image.shape == (128, 48)
    assert cases[0].spacing_mm == (2.4, 2.4)
    for case in cases:
        assert set(np.unique(case.mask)) == {0, 1, 2, 3}
        # Hotspots are the hottest label, background the coldest.
        means = [case.image[case.mask == k].mean() for k in range(4)]
        assert means[3] > means[1] > means[0]


def test_view_selection_scheme_and_flip(bone_root):
    anterior = read_dataset("bone_scan", bone_root, view="anterior", scheme=3)
    assert len(anterior) == 4 and all(c.meta["view"] == "anterior" for c in anterior)
    assert all(set(np.unique(c.mask)) == {0, 1, 2} for c in anterior)
    assert anterior[0].meta["class_names"] == ["background", "bone", "hotspot"]
    four = read_dataset("bone_scan", bone_root, view="anterior")
    np.testing.assert_array_equal(anterior[0].mask == 2, four[0].mask == 3)  # hotspots stay hotspots
    np.testing.assert_array_equal(anterior[0].mask == 1, np.isin(four[0].mask, [1, 2]))  # uptake -> bone
    posterior = read_dataset("bone_scan", bone_root, view="posterior")
    flipped = read_dataset("bone_scan", bone_root, view="posterior", flip_posterior=True)
    np.testing.assert_array_equal(flipped[0].image, posterior[0].image[:, ::-1])
    # Mirrored, the posterior skeleton overlays the anterior one.
    overlap = ((flipped[0].mask > 0) & (four[0].mask > 0)).sum() / (four[0].mask > 0).sum()
    assert overlap > 0.9 and flipped[0].meta["flipped"]


def test_splits_keep_both_views_of_a_patient_together(bone_root):
    cases = read_dataset("bone_scan", bone_root)
    split = split_cases(cases, 0.25, 0.25, seed=1)
    for ids in split.values():
        patients = {i.split("_")[0] for i in ids}
        assert len(ids) == 2 * len(patients)


def test_dicom_images(tmp_path):
    root = write_bone_scan_dataset(tmp_path, n_patients=2, shape=(64, 32), fmt="dicom", pixel_size_mm=3.2)
    cases = read_dataset("bone_scan", root, limit=1)
    assert len(cases) == 2 and cases[0].spacing_mm == (3.2, 3.2) and cases[0].image.shape == (64, 32)


def test_scheme_conversion_and_errors(tmp_path, bone_root):
    labels = np.array([0, 1, 2, 3], np.uint8)
    np.testing.assert_array_equal(to_scheme(labels, 3), [0, 1, 1, 2])
    with pytest.raises(ValueError, match="cannot recover"):
        to_scheme(np.array([0, 1, 2], np.uint8), 4, 3)
    with pytest.raises(ValueError, match="view must be"):
        read_dataset("bone_scan", bone_root, view="lateral")
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    (tmp_path / "images" / "P1_left.png").write_bytes((bone_root / "images" / "P000_anterior.png").read_bytes())
    with pytest.raises(DataError, match="<patient>_<view>"):
        read_dataset("bone_scan", tmp_path)


def test_check_lists_every_bad_bone_scan_file(tmp_path):
    root = write_bone_scan_dataset(tmp_path, n_patients=3, shape=(64, 32))
    (root / "images" / "P9_left.png").write_bytes((root / "images" / "P000_anterior.png").read_bytes())
    (root / "images" / "P001_posterior.png").write_bytes(b"junk")
    cv2.imwrite(str(root / "labels" / "P002_anterior.png"), np.zeros((10, 10), np.uint8))
    cases, problems = check_dataset("bone_scan", root)
    assert sorted(p.path.name for p in problems) == ["P001_posterior.png", "P002_anterior.png", "P9_left.png"]
    assert sorted(c.id for c in cases) == ["P000_anterior", "P000_posterior", "P001_anterior", "P002_posterior"]
