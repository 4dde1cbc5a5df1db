"""NIfTI / DICOM volume I/O, orientation, predictions written back aligned, slice-wise prediction."""

from __future__ import annotations

from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pytest

from medseg.data.phantoms.ct import display_affine, liver_phantom, write_dicom_series
from medseg.data.volumes import (
    load_dicom_series,
    load_nifti,
    save_nifti,
    select_slices,
    slices_to_source,
    write_prediction_for_dicom,
    write_prediction_nifti,
)
from medseg.errors import DataError
from medseg.inference.volume import predict_volume


@pytest.fixture(scope="module")
def phantom():
    return liver_phantom(np.random.default_rng(0), (10, 40, 48))


def _write_as(path, hu_zyx, codes):
    """Stores a display-order (L, P, S) volume with other axis codes."""
    affine = display_affine((2.5, 0.8, 0.7), hu_zyx.shape)
    data = hu_zyx.transpose(2, 1, 0)
    transform = nib.orientations.ornt_transform(
        nib.orientations.axcodes2ornt(("L", "P", "S")), nib.orientations.axcodes2ornt(codes)
    )
    stored = nib.orientations.apply_orientation(data, transform)
    stored_affine = affine @ nib.orientations.inv_ornt_aff(transform, data.shape)
    return save_nifti(stored, stored_affine, path, hu_zyx.dtype)


@pytest.mark.parametrize("codes", [("L", "P", "S"), ("R", "A", "S"), ("P", "R", "I")])
def test_load_nifti_reorients_any_storage_to_display_order(tmp_path, phantom, codes):
    hu, _ = phantom
    path = _write_as(tmp_path / "v.nii.gz", hu, codes)
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
    reference = _write_as(tmp_path / "ct.nii.gz", hu, codes)
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


def test_dicom_series_sorted_rescaled_and_affine(tmp_path, phantom):
    hu, _ = phantom
    spacing, origin = (2.5, 0.8, 0.7), (-10.0, 20.0, -40.0)
    write_dicom_series(tmp_path / "series", hu, spacing, origin, rescale_intercept=-1024, seed=3)
    (tmp_path / "series" / "notes.txt").write_text("not DICOM")
    volume = load_dicom_series(tmp_path / "series")
    np.testing.assert_array_equal(volume.array, hu)  # file names are shuffled; positions give the order
    assert volume.array.dtype == np.int16
    assert nib.aff2axcodes(volume.affine) == ("L", "P", "S")
    assert volume.spacing_zyx == pytest.approx(spacing)
    # First voxel at the first slice's ImagePositionPatient, in RAS (x, y negated).
    np.testing.assert_allclose(volume.affine[:3, 3], [10.0, -20.0, -40.0])
    last = volume.affine @ [0, 0, hu.shape[0] - 1, 1]
    assert last[2] == pytest.approx(-40.0 + 2.5 * (hu.shape[0] - 1))


def test_dicom_series_errors(tmp_path, phantom):
    hu, _ = phantom
    with pytest.raises(DataError, match="no DICOM image"):
        (tmp_path / "empty").mkdir()
        (tmp_path / "empty" / "a.txt").write_text("x")
        load_dicom_series(tmp_path / "empty")
    import pydicom

    write_dicom_series(tmp_path / "gap", hu, (2.5, 0.8, 0.7))
    for path in (tmp_path / "gap").iterdir():  # remove an inner slice: a gap of twice the spacing
        if int(pydicom.dcmread(path, stop_before_pixels=True).InstanceNumber) == 5:
            path.unlink()
    with pytest.raises(DataError, match="not evenly spaced"):
        load_dicom_series(tmp_path / "gap")


def test_select_slices():
    labels = np.zeros((10, 4, 4), np.uint8)
    labels[3:6, 1, 1] = 1
    assert select_slices(labels, 10) == list(range(10))
    assert select_slices(labels, 10, empty_fraction=0.0) == [3, 4, 5]
    assert len(select_slices(labels, 10, empty_fraction=0.5, seed=1)) == 3 + 4
    assert select_slices(labels, 10, stride=3) == [0, 3, 6, 9]
    with pytest.raises(ValueError, match="stride"):
        select_slices(labels, 10, stride=0)


class _ThresholdPredictor:
    """Predicts liver as -> 1 where 45 < HU < 80: geometry checks need a predictor that cannot move voxels."""

    def predict(self, image):
        return SimpleNamespace(mask=((image > 45) & (image < 80)).astype(np.uint8))


def test_predict_volume_on_nifti_and_dicom(tmp_path, phantom):
    hu, _ = phantom
    expected = ((hu > 45) & (hu < 80)).astype(np.uint8)
    reference = _write_as(tmp_path / "ct.nii.gz", hu, ("R", "A", "S"))
    out, labels = predict_volume(_ThresholdPredictor(), reference, tmp_path / "pred.nii.gz")
    np.testing.assert_array_equal(labels, expected)
    np.testing.assert_allclose(nib.load(out).affine, nib.load(reference).affine)
    np.testing.assert_array_equal(load_nifti(out, labels=True).array, expected)

    write_dicom_series(tmp_path / "series", hu, (2.5, 0.8, 0.7), (-5.0, -5.0, 10.0))
    out, labels = predict_volume(_ThresholdPredictor(), tmp_path / "series", tmp_path / "dicom_pred.nii.gz")
    series = load_dicom_series(tmp_path / "series")
    np.testing.assert_allclose(nib.load(out).affine, series.affine)
    np.testing.assert_array_equal(np.asarray(nib.load(out).dataobj).transpose(2, 1, 0), expected)
    with pytest.raises(DataError, match="differ"):
        write_prediction_for_dicom(labels[:-1], series, tmp_path / "bad.nii.gz")


def test_predict_volume_with_a_real_predictor(tmp_path, phantom):
    from medseg.config import Config
    from medseg.inference import Predictor
    from medseg.models import create_model

    hu, _ = phantom
    config = Config()
    config.data.image_size = [32, 32]
    config.data.window = [100.0, 300.0]
    model = create_model("unet", in_channels=1, classes=2, channels=[4, 8])
    reference = _write_as(tmp_path / "ct.nii.gz", hu, ("L", "P", "S"))
    out, labels = predict_volume(Predictor(model, config, device="cpu"), reference, tmp_path / "pred.nii.gz")
    assert labels.shape == hu.shape and set(np.unique(labels)) <= {0, 1}
    assert nib.load(out).shape == nib.load(reference).shape


def test_nifti_scaling_is_applied_without_float64_volumes(tmp_path, phantom):
    hu, _ = phantom
    stored = (hu.astype(np.int32) + 1024).astype(np.uint16).transpose(2, 1, 0)
    image = nib.Nifti1Image(stored, display_affine((2.5, 0.8, 0.7), hu.shape))
    image.header.set_slope_inter(1, -1024)
    nib.save(image, tmp_path / "scaled.nii.gz")
    volume = load_nifti(tmp_path / "scaled.nii.gz")
    assert volume.array.dtype == np.int16
    np.testing.assert_array_equal(volume.array, hu)


def test_dicom_files_without_preamble_are_read(tmp_path, phantom):
    import io

    import pydicom

    from medseg.data.phantoms.ct import dicom_slices

    hu, _ = phantom
    (tmp_path / "raw").mkdir()
    for k, data in enumerate(dicom_slices(hu, (2.5, 0.8, 0.7))):
        ds = pydicom.dcmread(io.BytesIO(data))
        ds.preamble = None
        del ds.file_meta
        buffer = io.BytesIO()
        ds.save_as(buffer, implicit_vr=True, little_endian=True)
        (tmp_path / "raw" / f"IM{k:03d}").write_bytes(buffer.getvalue())
    np.testing.assert_array_equal(load_dicom_series(tmp_path / "raw").array, hu)
