"""Slice-by-slice prediction of NIfTI volumes and DICOM series, labels written in the input's geometry."""

from __future__ import annotations

from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pytest

from medseg.data.phantoms.ct import display_affine, write_dicom_series
from medseg.data.volumes.dicom import load_dicom_series, write_prediction_for_dicom
from medseg.data.volumes.nifti import load_nifti, save_nifti
from medseg.errors import DataError
from medseg.inference.volume import is_volume_input, predict_volume, predict_volumes, volume_inputs
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


def _ct_config():
    from medseg.config import Config

    config = Config()
    config.data.num_classes = 3
    config.data.class_names = ["background", "liver", "tumour"]
    config.postprocess.largest_component = False
    config.postprocess.fill_holes = False
    return config


class _LiverTumourThreshold:
    """Liver where 45 < HU < 80, tumour where 5 < HU < 25: exact on the noise-free sphere phantom."""

    def __init__(self):
        self.config = _ct_config()

    def predict(self, image):
        mask = ((image > 45) & (image < 80)).astype(np.uint8)
        mask[(image > 5) & (image < 25)] = 2
        return SimpleNamespace(mask=mask)


SPACING = (1.5, 0.8, 0.8)


@pytest.fixture(scope="module")
def spheres(tmp_path_factory):
    """The sphere phantom as a NIfTI (stored RAS) and as a zipped DICOM series; a stray 'liver' blob far away."""
    import io
    import zipfile

    from medseg.data.phantoms.ct import dicom_slices, sphere_phantom

    hu, labels = sphere_phantom((40, 80, 80), SPACING, 25.0, [((0.0, 6.0, -6.0), 9.0), ((0.0, -10.0, 10.0), 5.0)])
    hu[2:5, 2:6, 2:6] = 60  # a stray liver-like blob that 3D post-processing removes
    root = tmp_path_factory.mktemp("spheres")
    folder = root / "nifti"
    save_nifti(hu.transpose(2, 1, 0), display_affine(SPACING, hu.shape), folder / "spheres.nii.gz", np.int16)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for k, data in enumerate(dicom_slices(hu, SPACING, (-30.0, -30.0, 0.0))):
            archive.writestr(f"PATIENT_DICOM/image_{k}", data)
    (root / "spheres_dicom.zip").write_bytes(buffer.getvalue())
    return root, hu, labels


def test_predict_volumes_measures_spheres_and_matches_across_formats(tmp_path, spheres):
    import csv

    root, hu, _ = spheres
    rows = {}
    for name, source in [("nifti", root / "nifti"), ("dicom", root / "spheres_dicom.zip")]:
        out = tmp_path / name
        rows[name] = predict_volumes(_LiverTumourThreshold(), source, out)[0]
        assert (out / rows[name]["labels"]).is_file()
        tumours = list(csv.DictReader((out / "tumours.csv").open()))
        assert [round(float(t["diameter_mm"]) / 2) for t in tumours] == [9, 5]
        assert float(tumours[0]["diameter_mm"]) == pytest.approx(18.0, rel=0.02)
        assert float(tumours[1]["diameter_mm"]) == pytest.approx(10.0, rel=0.02)
        if name == "dicom":  # the image number of the slice through the centre (slices numbered from 1)
            assert [int(t["dicom_instance"]) for t in tumours] == [round(float(t["voxel_k"])) + 1 for t in tumours]
        else:
            assert "dicom_instance" not in tumours[0]
    ml = lambda r: 4 / 3 * np.pi * r**3 / 1000  # noqa: E731
    for row in rows.values():
        assert row["liver_ml"] == pytest.approx(ml(25), rel=0.02)  # the stray blob was removed
        assert row["tumour_ml"] == pytest.approx(ml(9) + ml(5), rel=0.02)
        assert row["n_tumours"] == 2
    measured = [k for k in rows["nifti"] if k.endswith(("_ml", "_pct", "_mm")) or k.startswith("n_")]
    assert {k: rows["nifti"][k] for k in measured} == pytest.approx({k: rows["dicom"][k] for k in measured}, rel=1e-6)
    assert rows["dicom"]["volume"] == "spheres_dicom"
    # Without 3D post-processing the stray blob counts as liver.
    raw = predict_volumes(_LiverTumourThreshold(), root / "nifti", tmp_path / "raw", postprocess_3d=False)[0]
    assert raw["liver_ml"] == pytest.approx(rows["nifti"]["liver_ml"] + 3 * 4 * 4 * np.prod(SPACING) / 1000)


def test_postprocess_volume_keeps_lesions_touching_the_organ():
    from medseg.inference.postprocess import postprocess_volume

    labels = np.zeros((6, 12, 12), np.uint8)
    labels[1:5, 1:6, 1:6] = 1
    labels[2:4, 6:8, 2:4] = 2  # touches the liver
    labels[2:4, 10:12, 10:12] = 2  # far from it
    labels[0, 10, 0] = 1  # a stray liver voxel
    out = postprocess_volume(labels, ["background", "liver", "tumour"])
    assert out[2, 6, 2] == 2 and out[2, 10, 10] == 0 and out[0, 10, 0] == 0
    assert (out == 1).sum() == 4 * 5 * 5
    assert postprocess_volume(np.full((2, 2, 2), 2, np.uint8), ["background", "liver", "tumour"]).max() == 0


def test_volume_inputs(tmp_path, spheres):
    from medseg.data.phantoms.ct import write_ircadb_patient

    root, _, _ = spheres
    (root / "nifti" / "segmentation-1.nii.gz").write_bytes(b"")  # label files are not inputs
    assert volume_inputs(root / "nifti") == [("spheres", root / "nifti" / "spheres.nii.gz")]
    patient, _, _ = write_ircadb_patient(tmp_path, number=3, shape=(4, 16, 16))
    assert volume_inputs(patient) == [("3Dircadb1.3", patient / "PATIENT_DICOM.zip")]
    assert volume_inputs(tmp_path) == volume_inputs(patient)
    assert volume_inputs(patient / "PATIENT_DICOM.zip")[0][0] == "3Dircadb1.3"
    assert is_volume_input(patient) and is_volume_input(root / "spheres_dicom.zip")
    (tmp_path / "pngs").mkdir()
    (tmp_path / "pngs" / "a.png").write_bytes(b"")
    assert not is_volume_input(tmp_path / "pngs")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match=r"notes\.txt: not a volume"):
        volume_inputs(tmp_path / "notes.txt")


class _LeftHalfTumours(_LiverTumourThreshold):
    """Sees tumours only in the left half of a slice: a prediction that changes when the slice is flipped."""

    def predict(self, image):
        mask = super().predict(image).mask
        right = mask[:, mask.shape[1] // 2 :]
        right[right == 2] = 0
        return SimpleNamespace(mask=mask)


def test_volume_qc_spread_is_zero_for_a_flip_invariant_model_and_large_otherwise(tmp_path, spheres):
    root = spheres[0]
    steady = _LiverTumourThreshold()
    steady.config.eval.qc = True
    steady.tta = False
    row = predict_volumes(steady, root / "nifti", tmp_path / "steady")[0]
    assert row["qc_liver_ml_spread"] == 0 and row["qc_tumour_ml_spread"] == 0
    assert row["qc_tumour_spread_pct"] == 0
    flaky = _LeftHalfTumours()
    flaky.config.eval.qc = True
    flaky.tta = False
    row = predict_volumes(flaky, root / "nifti", tmp_path / "flaky")[0]
    # The two tumours (3.05 and 0.52 ml) lie on opposite sides: the flips see different ones.
    assert row["qc_tumour_ml_spread"] > 1.0
    assert row["qc_tumour_spread_pct"] > 50
    # Without eval.qc no QC columns are written.
    assert not any(
        k.startswith("qc_") for k in predict_volumes(_LiverTumourThreshold(), root / "nifti", tmp_path / "off")[0]
    )


def test_tumours_csv_lists_tumours_above_the_minimum_with_centres_in_the_label_file(tmp_path):
    """0.7 x 0.7 x 2.5 mm voxels, a NIfTI stored RAS (not the display order): two tumours listed, a 2 mm
    speck counted below the minimum; voxel centres index the written label file."""
    import csv

    from medseg.data.phantoms.ct import display_affine, sphere_phantom

    spacing, shape = (2.5, 0.7, 0.7), (24, 100, 100)
    tumours = [((0.0, 10.0, -10.0), 8.0), ((-2.5, -12.0, 12.0), 6.0), ((5.0, -12.0, -14.0), 2.0)]
    hu, _ = sphere_phantom(shape, spacing, 30.0, tumours)
    source = tmp_path / "in" / "ct.nii.gz"
    data = hu.transpose(2, 1, 0)
    transform = nib.orientations.ornt_transform(
        nib.orientations.axcodes2ornt(("L", "P", "S")), nib.orientations.axcodes2ornt(("R", "A", "S"))
    )
    stored = nib.orientations.apply_orientation(data, transform)
    stored_affine = display_affine(spacing, shape) @ nib.orientations.inv_ornt_aff(transform, data.shape)
    save_nifti(stored, stored_affine, source, np.int16)
    predictor = _LiverTumourThreshold()
    row = predict_volumes(predictor, source, tmp_path / "out")[0]
    listed = list(csv.DictReader((tmp_path / "out" / "tumours.csv").open()))
    assert [int(t["tumour"]) for t in listed] == [1, 2] and row["n_tumours"] == 2
    assert row["n_tumours_below_min"] == 1 and row["min_tumour_volume_mm3"] == 65.0
    ml = lambda r: 4 / 3 * np.pi * r**3 / 1000  # noqa: E731
    assert [float(t["volume_ml"]) for t in listed] == pytest.approx([ml(8), ml(6)], rel=0.03)
    labels = nib.load(tmp_path / "out" / row["labels"])
    for tumour in listed:
        ijk = [round(float(tumour[f"voxel_{a}"])) for a in "ijk"]
        assert labels.get_fdata()[tuple(ijk)] == 2  # the centre of a sphere lies inside it
        world = labels.affine @ [*(float(tumour[f"voxel_{a}"]) for a in "ijk"), 1.0]
        assert world[:3] == pytest.approx([float(tumour[f"{a}_mm"]) for a in "xyz"], abs=1e-3)
    # eval.min_lesion_volume_mm3 = 0 lists the speck too
    predictor.config.eval.min_lesion_volume_mm3 = 0.0
    assert predict_volumes(predictor, source, tmp_path / "all")[0]["n_tumours"] == 3


def test_batched_slices_give_the_same_labels_as_one_slice_at_a_time(spheres):
    """Slices go through the network ``batch_size`` at a time: the labels do not depend on the batch."""
    import torch

    from medseg.data.volumes.base import Volume
    from medseg.inference import Predictor
    from medseg.inference.volume import predict_slices
    from medseg.models import create_model

    _, hu, _ = spheres
    config = _ct_config()
    config.data.image_size, config.data.window, config.data.crop_foreground = [32, 32], [100.0, 300.0], -500.0
    torch.manual_seed(0)
    model = create_model("unet", in_channels=1, classes=3, channels=[4, 8])
    head = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    with torch.no_grad():
        head.weight.mul_(20)  # logits spread wide enough that the untrained network predicts several classes
    volume = Volume(hu, display_affine(SPACING, hu.shape))
    one, one_p = predict_slices(Predictor(model, config, device="cpu", batch_size=1), volume, keep_probabilities=True)
    many, many_p = predict_slices(
        Predictor(model, config, device="cpu", batch_size=16), volume, keep_probabilities=True
    )
    assert len(np.unique(one)) > 1  # the untrained network does not give one class everywhere
    np.testing.assert_array_equal(one, many)
    np.testing.assert_allclose(one_p.astype(np.float32), many_p.astype(np.float32), atol=1e-3)


def test_remove_small_lesions_turns_specks_into_organ_or_background():
    from medseg.inference.postprocess import postprocess_volume, remove_small_lesions

    names = ["background", "liver", "tumour"]
    labels = np.zeros((8, 20, 20), np.uint8)
    labels[1:7, 2:12, 2:12] = 1
    labels[2:6, 3:8, 3:8] = 2  # 100 voxels: kept
    labels[3, 10, 10] = 2  # a one-voxel speck inside the liver: becomes liver
    labels[4, 11, 12] = 2  # a speck touching the liver's edge (by a corner): becomes liver
    labels[2, 16, 16] = 2  # a speck far from the liver: becomes background
    out = remove_small_lesions(labels, names, (1.0, 1.0, 1.0), 10.0)
    assert out[3, 10, 10] == 1 and out[4, 11, 12] == 1 and out[2, 16, 16] == 0
    assert (out == 2).sum() == 100 and (labels == 2).sum() == 103  # the input is left as it was
    np.testing.assert_array_equal(remove_small_lesions(labels, names, (1.0, 1.0, 1.0), 1.0), labels)
    # inside the 3D post-processing: only with a spacing and a minimum
    np.testing.assert_array_equal(postprocess_volume(labels, names, (1.0, 1.0, 1.0), 10.0), out)
    assert (postprocess_volume(labels, names) == 2).sum() == 102  # the far speck goes with the 3D component


def test_predict_volumes_with_remove_small_lesions_writes_only_listed_tumours(tmp_path, spheres):
    root, _, _ = spheres
    predictor = _LiverTumourThreshold()
    predictor.config.eval.min_lesion_volume_mm3 = 1000.0  # above the 5 mm sphere (0.52 ml), below the 9 mm one
    kept = predict_volumes(predictor, root / "nifti", tmp_path / "kept")[0]
    predictor.config.postprocess.remove_small_lesions = True
    removed = predict_volumes(predictor, root / "nifti", tmp_path / "removed")[0]
    assert kept["n_tumours"] == removed["n_tumours"] == 1
    assert kept["n_tumours_below_min"] == 1 and removed["n_tumours_below_min"] == 0
    assert removed["liver_ml"] == pytest.approx(kept["liver_ml"])  # the small tumour became liver
    assert removed["tumour_ml"] == pytest.approx(kept["tumour_ml"] - kept["tumour_below_min_ml"])
    labels = np.asarray(nib.load(tmp_path / "removed" / removed["labels"]).dataobj)
    assert (labels == 2).sum() * np.prod(SPACING) / 1000 == pytest.approx(removed["tumour_ml"])
