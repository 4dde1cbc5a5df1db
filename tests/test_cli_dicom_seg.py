"""``medseg predict --format dicom-seg``, ``--save-probabilities`` and ``medseg ensemble`` on volumes."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from typer.testing import CliRunner

from medseg.cli import app
from medseg.data.phantoms.ct import write_ircadb_patient
from tests.test_cli_volumes import ct_run  # noqa: F401  (fixture: an untrained 3-class CT run)

runner = CliRunner()

CT_TINY = [
    "data.layout=ircadb",
    "data.num_classes=3",
    "data.class_names=[background,liver,tumour]",
    "data.image_size=[32,32]",
    "data.window=[100.0,300.0]",
    "data.val_fraction=0",
    "data.test_fraction=0",
    "model.params.channels=[4,8]",
    "train.epochs=25",
    "train.batch_size=4",
    "train.lr=0.01",
    "train.threads=1",
    "train.max_minutes=null",
    "augment.rotate_deg=0",
    "augment.scale=0",
    "postprocess.fit_ellipse=false",
    "eval.measurements=[]",
    "eval.qc=false",
]


@pytest.fixture(scope="module")
def ircadb_phantoms(tmp_path_factory):
    """Three 3D-IRCADb phantom patients (12 slices of 40 x 40)."""
    root = tmp_path_factory.mktemp("ircadb")
    for number in (1, 2, 3):
        write_ircadb_patient(root, number, shape=(12, 40, 40), seed=number)
    return root


@pytest.fixture(scope="module")
def trained_ct_run(ircadb_phantoms, tmp_path_factory):
    """A 1,700-parameter U-Net trained for 25 short epochs on the phantoms: it finds the liver (seconds)."""
    from medseg.config import load_config
    from medseg.experiments.train import train_run

    run = tmp_path_factory.mktemp("ct_trained") / "run"
    train_run(load_config("demo", CT_TINY), ircadb_phantoms, run)
    return run


def source_slices(zip_path):
    """The series' datasets read with pydicom alone, sorted by position along the slice normal."""
    import pydicom

    with zipfile.ZipFile(zip_path) as archive:
        datasets = [pydicom.dcmread(io.BytesIO(archive.read(n))) for n in archive.namelist() if not n.endswith("/")]
    normal = np.cross(*np.reshape(np.asarray(datasets[0].ImageOrientationPatient, float), (2, 3)))
    return sorted(datasets, key=lambda ds: float(np.dot(np.asarray(ds.ImagePositionPatient, float), normal)))


def seg_labels_by_pydicom(seg_path, sources):
    """The SEG's frames laid back on the source slices via each frame's referenced SOP instance UID."""
    import pydicom

    seg = pydicom.dcmread(seg_path)
    assert seg.Modality == "SEG" and seg.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4"
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == sources[0].SeriesInstanceUID
    index = {ds.SOPInstanceUID: k for k, ds in enumerate(sources)}
    labels = np.zeros((len(sources), int(seg.Rows), int(seg.Columns)), np.uint8)
    frames = seg.pixel_array.reshape(-1, seg.Rows, seg.Columns)
    for frame, group in zip(frames, seg.PerFrameFunctionalGroupsSequence, strict=True):
        uid = group.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        k = index[uid]
        position = [float(v) for v in group.PlanePositionSequence[0].ImagePositionPatient]
        np.testing.assert_allclose(position, [float(v) for v in sources[k].ImagePositionPatient], atol=1e-3)
        labels[k][frame > 0] = group.SegmentIdentificationSequence[0].ReferencedSegmentNumber
    return labels


def check_seg_matches_nifti(seg_path, nifti_path, zip_path):
    """The SEG, read by pydicom and by highdicom, equals the label NIfTI voxel by voxel."""
    import highdicom as hd

    sources = source_slices(zip_path)
    expected = np.asarray(nib.load(nifti_path).dataobj).transpose(2, 1, 0)  # (Z, Y, X) in position order
    by_pydicom = seg_labels_by_pydicom(seg_path, sources)
    np.testing.assert_array_equal(by_pydicom, expected)
    seg = hd.seg.segread(seg_path)
    uids = [ds.SOPInstanceUID for ds in sources]
    assert {uid for _, _, uid in seg.get_source_image_uids()} == set(uids)
    by_highdicom = seg.get_pixels_by_source_instance(uids, combine_segments=True)
    np.testing.assert_array_equal(by_highdicom, expected)
    return expected


def test_dicom_seg_of_an_ircadb_zip_references_the_series_and_equals_the_nifti(
    trained_ct_run, ircadb_phantoms, tmp_path
):
    patient = ircadb_phantoms / "3Dircadb1.1"  # slices image_0..image_11 in the zip, text order != slice order
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["predict", str(trained_ct_run), str(patient), "--out", str(out), "--format", "dicom-seg"]
    )
    assert result.exit_code == 0, result.output
    (row,) = list(csv.DictReader((out / "volumes.csv").open()))
    assert row["dicom_seg"] == "labels/3Dircadb1.1.seg.dcm"
    labels = check_seg_matches_nifti(out / row["dicom_seg"], out / row["labels"], patient / "PATIENT_DICOM.zip")
    assert len(np.unique(labels)) >= 2  # a meaningful comparison: more than one label predicted


def test_dicom_seg_is_refused_for_a_nifti_input_before_out_is_created(ct_run, tmp_path):  # noqa: F811
    from medseg.data.phantoms.ct import display_affine
    from medseg.data.volumes.nifti import save_nifti

    source = save_nifti(np.zeros((8, 8, 4), np.int16), display_affine((2.0, 1.0, 1.0), (4, 8, 8)), tmp_path / "a.nii")
    out = tmp_path / "out"
    result = runner.invoke(app, ["predict", str(ct_run), str(source), "--out", str(out), "--format", "dicom-seg"])
    assert result.exit_code == 2 and "a.nii" in result.output and "dicom-seg" in result.output
    assert not out.exists()


def test_ensemble_averages_saved_probabilities_and_refuses_a_missing_case(
    trained_ct_run,
    ct_run,  # noqa: F811
    ircadb_phantoms,
    tmp_path,
):
    from medseg.inference.probabilities import load_probabilities

    patient = ircadb_phantoms / "3Dircadb1.2"
    folders = []
    for k, run in enumerate((trained_ct_run, ct_run)):
        folders.append(tmp_path / f"pred{k}")
        args = ["predict", str(run), str(patient), "--out", str(folders[-1]), "--save-probabilities"]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    saved = [load_probabilities(f / "probabilities" / "3Dircadb1.2.npz") for f in folders]
    assert saved[0]["probabilities"].dtype == np.float16 and saved[0]["probabilities"].shape == (3, 12, 40, 40)
    out = tmp_path / "ensemble"
    result = runner.invoke(app, ["ensemble", str(folders[0]), str(folders[1]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    mean = (saved[0]["probabilities"].astype(np.float32) + saved[1]["probabilities"].astype(np.float32)) / 2
    labels = np.asarray(nib.load(out / "labels" / "3Dircadb1.2.nii.gz").dataobj).transpose(2, 1, 0)
    np.testing.assert_array_equal(labels, mean.argmax(0))
    np.testing.assert_allclose(nib.load(out / "labels" / "3Dircadb1.2.nii.gz").affine, saved[0]["affine"])
    predicted = next(csv.DictReader((folders[0] / "volumes.csv").open()))
    ensembled = next(csv.DictReader((out / "volumes.csv").open()))
    assert list(ensembled) == list(predicted)
    (folders[1] / "probabilities" / "3Dircadb1.2.npz").rename(folders[1] / "probabilities" / "other.npz")
    result = runner.invoke(app, ["ensemble", str(folders[0]), str(folders[1]), "--out", str(tmp_path / "e2")])
    assert result.exit_code == 2 and "3Dircadb1.2.npz" in result.output and "missing" in result.output


def test_quiet_and_verbose_flags_set_the_log_level(ct_run, ircadb_phantoms, tmp_path):  # noqa: F811
    patient = ircadb_phantoms / "3Dircadb1.3"
    quiet = runner.invoke(app, ["--quiet", "predict", str(ct_run), str(patient), "--out", str(tmp_path / "q")])
    assert quiet.exit_code == 0, quiet.output
    assert "volume 1/1" not in quiet.output and "1 volume(s)" in quiet.output  # the result is still printed
    loud = runner.invoke(app, ["predict", str(ct_run), str(patient), "--out", str(tmp_path / "l")])
    assert loud.exit_code == 0 and "volume 1/1" in loud.output


IRCADB = Path("/work/shared/data/3dircadb/3Dircadb1.1")


@pytest.mark.realdata
@pytest.mark.skipif(not (IRCADB / "PATIENT_DICOM.zip").is_file(), reason="3D-IRCADb not available")
def test_dicom_seg_of_a_real_ircadb_patient_lies_on_its_slices(trained_ct_run, tmp_path):
    out = tmp_path / "out"
    args = ["--quiet", "predict", str(trained_ct_run), str(IRCADB), "--out", str(out), "--format", "dicom-seg"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    (row,) = list(csv.DictReader((out / "volumes.csv").open()))
    check_seg_matches_nifti(out / row["dicom_seg"], out / row["labels"], IRCADB / "PATIENT_DICOM.zip")
