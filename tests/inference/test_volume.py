"""Slice-by-slice prediction of NIfTI volumes and DICOM series, labels written in the input's geometry."""

from __future__ import annotations

from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pytest

from medseg.data.phantoms.ct import write_dicom_series
from medseg.data.volumes.dicom import load_dicom_series, write_prediction_for_dicom
from medseg.data.volumes.nifti import load_nifti
from medseg.errors import DataError
from medseg.inference.volume import predict_volume
from tests.data.volumes.helpers import small_phantom, write_as


@pytest.fixture(scope="module")
def phantom():
    return small_phantom()


class _ThresholdPredictor:
    """Predicts liver as -> 1 where 45 < HU < 80: geometry checks need a predictor that cannot move voxels."""

    def predict(self, image):
        return SimpleNamespace(mask=((image > 45) & (image < 80)).astype(np.uint8))


def test_predict_volume_on_nifti_and_dicom(tmp_path, phantom):
    hu, _ = phantom
    expected = ((hu > 45) & (hu < 80)).astype(np.uint8)
    reference = write_as(tmp_path / "ct.nii.gz", hu, ("R", "A", "S"))
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
    reference = write_as(tmp_path / "ct.nii.gz", hu, ("L", "P", "S"))
    out, labels = predict_volume(Predictor(model, config, device="cpu"), reference, tmp_path / "pred.nii.gz")
    assert labels.shape == hu.shape and set(np.unique(labels)) <= {0, 1}
    assert nib.load(out).shape == nib.load(reference).shape
