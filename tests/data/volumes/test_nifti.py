"""NIfTI volumes: reorientation to display order, scaling, label volumes written back aligned."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from medseg.data.phantoms.ct import display_affine
from medseg.data.volumes.nifti import load_nifti, save_nifti, slices_to_source, write_prediction_nifti
from medseg.errors import DataError
from tests.data.volumes.helpers import write_as


@pytest.mark.parametrize("codes", [("L", "P", "S"), ("R", "A", "S"), ("P", "R", "I")])
def test_load_nifti_reorients_any_storage_to_display_order(tmp_path, phantom, codes):
    hu, _ = phantom
    path = write_as(tmp_path / "v.nii.gz", hu, codes)
    assert nib.aff2axcodes(nib.load(path).affine) == codes
    volume = load_nifti(path)
    np.testing.assert_array_equal(volume.array, hu)
    assert volume.array.dtype == np.int16
    assert volume.spacing_zyx == pytest.approx((2.5, 0.8, 0.7))
    assert volume.spacing_mm == pytest.approx((0.8, 0.7))
    assert nib.aff2axcodes(volume.affine) == ("L", "P", "S")
    # Without reorientation the stored axes are kept.
    assert load_nifti(path, orientation=None).array.shape == nib.load(path).shape[::-1]


@pytest.mark.parametrize("codes", [("L", "P", "S"), ("R", "A", "S")])
def test_prediction_written_back_matches_reference_geometry(tmp_path, phantom, codes):
    hu, labels = phantom
    reference = write_as(tmp_path / "ct.nii.gz", hu, codes)
    ref = nib.load(reference)
    out = write_prediction_nifti(labels, reference, tmp_path / "pred.nii.gz")  # (Z, Y, X) display slices
    written = nib.load(out)
    np.testing.assert_allclose(written.affine, ref.affine)
    assert written.shape == ref.shape and written.get_data_dtype() == np.uint8
    # Voxel by voxel the labels sit where the phantom put them: re-reading in display order gives them back.
    np.testing.assert_array_equal(load_nifti(out, labels=True).array, labels)
    # xyz input in the file's own order is written as is.
    stored = np.asarray(written.dataobj)
    again = nib.load(write_prediction_nifti(stored, reference, tmp_path / "pred2.nii.gz", order="xyz"))
    np.testing.assert_array_equal(np.asarray(again.dataobj), stored)
    np.testing.assert_array_equal(slices_to_source(labels, load_nifti(reference)), stored)


def test_prediction_shape_errors(tmp_path):
    cube = np.zeros((8, 8, 8), np.int16)
    reference = save_nifti(cube, np.diag([-1.0, -1.0, 1.0, 1.0]), tmp_path / "cube.nii.gz")
    with pytest.raises(ValueError, match="fit both"):
        write_prediction_nifti(np.zeros((8, 8, 8), np.uint8), reference, tmp_path / "p.nii.gz")
    with pytest.raises(DataError, match="differ"):
        write_prediction_nifti(np.zeros((8, 8, 7), np.uint8), reference, tmp_path / "p.nii.gz", order="xyz")
    with pytest.raises(DataError, match="not found"):
        load_nifti(tmp_path / "missing.nii.gz")


def test_nifti_scaling_is_applied_without_float64_volumes(tmp_path, phantom):
    hu, _ = phantom
    stored = (hu.astype(np.int32) + 1024).astype(np.uint16).transpose(2, 1, 0)
    image = nib.Nifti1Image(stored, display_affine((2.5, 0.8, 0.7), hu.shape))
    image.header.set_slope_inter(1, -1024)
    nib.save(image, tmp_path / "scaled.nii.gz")
    volume = load_nifti(tmp_path / "scaled.nii.gz")
    assert volume.array.dtype == np.int16
    np.testing.assert_array_equal(volume.array, hu)


@pytest.mark.parametrize(
    ("shape", "match"),
    [
        ((16, 16), r"expected a 3D volume, got a 2D image of shape \(16, 16\)"),
        ((8, 8, 4, 3), "expected a 3D volume, got a 4D image"),
    ],
)
def test_2d_and_4d_images_are_refused_where_3d_is_expected(tmp_path, shape, match):
    path = tmp_path / "odd.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros(shape, np.int16), np.eye(4)), path)
    with pytest.raises(DataError, match=rf"odd\.nii\.gz: {match}"):
        load_nifti(path)


def test_4d_with_channels_and_single_channel(tmp_path):
    nib.save(nib.Nifti1Image(np.zeros((8, 6, 4, 2), np.int16), np.eye(4)), tmp_path / "two.nii.gz")
    assert load_nifti(tmp_path / "two.nii.gz", channels=True).array.shape == (4, 6, 8, 2)
    nib.save(nib.Nifti1Image(np.zeros((8, 6, 4, 1), np.int16), np.eye(4)), tmp_path / "one.nii.gz")
    assert load_nifti(tmp_path / "one.nii.gz").array.shape == (4, 6, 8)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_infinite_voxels_are_refused(tmp_path, bad):
    data = np.zeros((6, 6, 4), np.float32)
    data[2, 3, 1] = bad
    nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / "nan.nii.gz")
    with pytest.raises(DataError, match=r"nan\.nii\.gz: 1 NaN or infinite voxel\(s\)"):
        load_nifti(tmp_path / "nan.nii.gz")
