"""Lung nodule crops: pylidc export layout and labelled volumes."""

from __future__ import annotations

import numpy as np
import pytest

from medseg.data.case import Case
from medseg.data.phantoms import write_lidc_export
from medseg.data.readers import check_dataset, read_dataset
from medseg.data.readers.lidc import crop_cases, nodule_crops
from medseg.errors import DataError

from ..conftest import real_dataset


def test_lidc_phantom_crops_centred_on_nodules(lidc_root):
    slices = read_dataset("lidc", lidc_root, crop_size=None)
    crops = read_dataset("lidc", lidc_root, crop_size=32)
    assert len(crops) == len(slices)  # one nodule per slice in the phantom
    assert {c.group for c in crops} == {"LIDC-IDRI-0001", "LIDC-IDRI-0002", "LIDC-IDRI-0003"}
    assert slices[0].image.dtype == np.float32 and slices[0].image.shape == (96, 96)
    for crop, whole in zip(crops, slices, strict=True):
        assert crop.image.shape == (32, 32) and crop.id == whole.id
        assert crop.mask.sum() == whole.mask.sum()  # the whole nodule is inside the crop
        centre = np.argwhere(crop.mask).mean(axis=0)
        assert np.abs(centre - 16).max() <= 1.0
        top, left = crop.meta["crop_origin"]
        np.testing.assert_array_equal(crop.image, whole.image[top : top + 32, left : left + 32])
    assert read_dataset("lidc", lidc_root, patients=["0002"], crop_size=[16, 24])[0].image.shape == (16, 24)
    assert {c.group for c in read_dataset("lidc", lidc_root, limit=1)} == {"LIDC-IDRI-0001"}


def test_nodule_crops_at_the_border_and_several_nodules():
    image = np.arange(400, dtype=np.float32).reshape(20, 20)
    mask = np.zeros((20, 20), np.uint8)
    mask[0:3, 0:3] = 1  # corner nodule: crop padded with the image minimum
    mask[12:15, 12:16] = 1
    crops = nodule_crops(image, mask, 8)
    assert len(crops) == 2
    corner_image, corner_mask, (top, left) = crops[0]
    assert (top, left) == (-3, -3) and corner_image[0, 0] == image.min() and corner_mask.sum() == 9
    case = Case("s", image, mask, {"spacing_mm": (0.7, 0.7), "group": "p"})
    out = crop_cases([case], 8)
    assert [c.id for c in out] == ["s_n0", "s_n1"] and out[1].meta["spacing_mm"] == (0.7, 0.7)
    assert nodule_crops(image, np.zeros_like(mask), 8) == []


def test_lidc_crops_from_volumes(lits_root):
    crops = read_dataset("lidc", lits_root, source="nifti", crop_size=24, volume_options={"label_map": {1: 0, 2: 1}})
    assert crops and all(c.image.shape == (24, 24) and c.mask.max() == 1 for c in crops)
    assert {c.group for c in crops} <= {"volume-0", "volume-1", "volume-2"}
    assert all(c.image.dtype == np.int16 for c in crops)


def test_lidc_errors(tmp_path):
    with pytest.raises(DataError, match="pylidc export layout not found"):
        read_dataset("lidc", tmp_path, source="pylidc")
    with pytest.raises(ValueError, match="crop_size"):
        nodule_crops(np.zeros((4, 4)), np.ones((4, 4)), 0)


@pytest.mark.realdata
def test_real_lidc_80_slices_from_6_patients():
    root = real_dataset("lidc-idri")
    assert len(list((root / "Image").glob("*/*.npy"))) == 80
    crops = read_dataset("lidc", root)
    assert len(crops) == 80
    assert len({c.group for c in crops}) == 6
    assert {c.image.shape for c in crops} == {(64, 64)}
    assert all(c.image.dtype == np.float32 and c.mask.any() for c in crops)
    values = np.concatenate([c.image.ravel() for c in crops])
    assert values.min() > -0.5 and values.max() < 5  # the export's rescaled units, not HU
    slices = read_dataset("lidc", root, crop_size=None, patients=["0001"])
    assert len(slices) == 8 and slices[0].image.shape == (512, 512)


def test_check_lists_every_bad_lidc_slice(tmp_path):
    root = write_lidc_export(tmp_path, n_patients=2, size=64, seed=1)
    (root / "Mask" / "LIDC-IDRI-0001" / "0001_MA000_slice000.npy").unlink()
    np.save(root / "Mask" / "LIDC-IDRI-0002" / "0002_MA000_slice001.npy", np.zeros((8, 8), np.uint8))
    cases, problems = check_dataset("lidc", root, source="pylidc", crop_size=None)
    assert sorted(p.path.name for p in problems) == ["0001_NI000_slice000.npy", "0002_MA000_slice001.npy"]
    ids = {c.id for c in cases}
    assert "0001_NI000_slice001" in ids and not ids & {"0001_NI000_slice000", "0002_NI000_slice001"}


def test_background_crops_hold_no_nodule_and_are_training_only(lidc_root):
    from medseg.data.splits import kfold_splits, split_cases

    slices = read_dataset("lidc", lidc_root, crop_size=None)
    crops = read_dataset("lidc", lidc_root, crop_size=32, background_crops=2)
    free = [c for c in crops if c.training_only]
    assert len(crops) - len(free) == len(slices) and len(free) == 2 * len(slices)
    by_id = {s.id: s for s in slices}
    for crop in free:
        whole = by_id[crop.meta["slice_id"]]
        top, left = crop.meta["crop_origin"]
        assert crop.id.startswith(whole.id + "_bg") and crop.image.shape == (32, 32) and not crop.mask.any()
        assert not whole.mask[top : top + 32, left : left + 32].any()
        np.testing.assert_array_equal(crop.image, whole.image[top : top + 32, left : left + 32])
    again = read_dataset("lidc", lidc_root, crop_size=32, background_crops=2)
    assert [c.meta["crop_origin"] for c in again] == [c.meta["crop_origin"] for c in crops]  # seeded
    # never validated or tested on: splits keep them with their training patients only
    split = split_cases(crops, 0.34, 0.34, seed=0)
    free_ids = {c.id for c in free}
    assert not free_ids & set(split["val"] + split["test"]) and free_ids & set(split["train"])
    for fold in kfold_splits(crops, 2, seed=0):
        assert not free_ids & set(fold["val"] + fold["test"])


@pytest.mark.parametrize("count", [-1, "two", 1.5, True])
def test_background_crops_must_be_a_whole_number(lidc_root, count):
    with pytest.raises(ValueError, match="background_crops must be a whole number"):
        read_dataset("lidc", lidc_root, background_crops=count)
