"""CT readers: LiTS NIfTI, MSD, DICOM series, 3D-IRCADb (and its conversion to LiTS NIfTI)."""

from __future__ import annotations

import zipfile

import nibabel as nib
import numpy as np
import pytest
from typer.testing import CliRunner

from medseg.data.phantoms.ct import write_ircadb_patient
from medseg.data.readers import read_dataset
from medseg.data.readers.ircadb import convert_ircadb, is_liver_tumour, read_ircadb_patient
from medseg.data.volumes.nifti import load_nifti
from medseg.errors import DataError

from ..conftest import real_dataset


def test_lits_slices_ids_groups_spacing(lits_root):
    cases = read_dataset("nifti", lits_root)
    assert len(cases) == 3 * 12
    assert cases[0].id == "volume-0_z000" and cases[-1].id == "volume-2_z011"
    assert {c.group for c in cases} == {"volume-0", "volume-1", "volume-2"}
    assert all(c.image.dtype == np.int16 and c.image.shape == (48, 56) for c in cases)
    assert cases[0].spacing_mm == pytest.approx((0.8, 0.8))
    assert cases[0].meta["slice_thickness_mm"] == pytest.approx(2.5)
    assert nib.aff2axcodes(np.array(cases[0].meta["affine"])) == ("L", "P", "S")
    # volume-1 is stored RAS, volume-0 LPS: after reading, the liver lies on the image's left in both
    # (patient's right) and the spine (> 300 HU) at the back (bottom rows).
    for volume in ("volume-0", "volume-1"):
        liver = np.stack([c.mask for c in cases if c.group == volume]) > 0
        bone = np.stack([c.image for c in cases if c.group == volume]) > 300
        assert np.argwhere(liver)[:, 2].mean() < 56 / 2
        assert np.argwhere(bone)[:, 1].mean() > 48 / 2


def test_lits_options(lits_root):
    everything = read_dataset("nifti", lits_root, volumes=[1])
    liver_only = read_dataset("nifti", lits_root, volumes=[1], empty_fraction=0.0)
    assert 0 < len(liver_only) < len(everything)
    assert all(c.mask.any() for c in liver_only)
    strided = read_dataset("nifti", lits_root, volumes=[1], stride=4)
    assert [c.meta["slice_index"] for c in strided] == [0, 4, 8]
    tumour = read_dataset("nifti", lits_root, volumes=[1], label_map={1: 0, 2: 1})
    assert max(int(c.mask.max()) for c in tumour) == 1
    assert sum(int(c.mask.sum()) for c in tumour) == sum(int((c.mask == 2).sum()) for c in everything)
    assert len(read_dataset("nifti", lits_root, limit=1)) == 12
    assert np.array_equal(everything[5].image, read_dataset("nifti", lits_root, volumes=[1])[5].image)


def test_lits_errors(tmp_path, lits_root):
    with pytest.raises(DataError, match="no LiTS volumes"):
        read_dataset("nifti", tmp_path)
    (tmp_path / "volume-9.nii.gz").write_bytes((lits_root / "volume-0.nii.gz").read_bytes())
    with pytest.raises(DataError, match="no segmentation-9"):
        read_dataset("nifti", tmp_path)
    assert read_dataset("nifti", tmp_path, require_masks=False)[0].mask is None
    with pytest.raises(DataError, match="no volume-4"):
        read_dataset("nifti", lits_root, volumes=[4])


def test_lits_segmentation_of_another_shape_names_the_file(tmp_path, lits_root):
    (tmp_path / "volume-1.nii.gz").write_bytes((lits_root / "volume-0.nii.gz").read_bytes())
    image = nib.load(lits_root / "volume-0.nii.gz")
    small = np.zeros((image.shape[0], image.shape[1], image.shape[2] - 2), np.uint8)
    nib.save(nib.Nifti1Image(small, image.affine), tmp_path / "segmentation-1.nii.gz")
    with pytest.raises(DataError, match=r"segmentation-1\.nii\.gz: segmentation of shape .* differs from its volume"):
        read_dataset("nifti", tmp_path)


def test_msd(msd_root):
    cases = read_dataset("msd", msd_root, empty_fraction=0.0)
    assert {c.group for c in cases} == {"liver_0", "liver_1"}
    assert all(c.mask.any() for c in cases) and cases[0].id.startswith("liver_0_z")
    test = read_dataset("msd", msd_root, subset="test")
    assert len(test) == 10 and test[0].mask is None


def test_dicom_layout(dicom_root):
    cases = read_dataset("dicom", dicom_root)
    assert len(cases) == 16 and {c.group for c in cases} == {"patientA", "patientB"}
    assert cases[0].spacing_mm == pytest.approx((0.7, 0.7))
    assert cases[0].image.min() < -900  # Hounsfield units after RescaleIntercept
    assert {int(v) for c in cases for v in np.unique(c.mask)} == {0, 1}
    single = read_dataset("dicom", dicom_root / "patientA")
    assert len(single) == 8 and single[0].group == "patientA"
    unlabelled = read_dataset("dicom", dicom_root / "patientA" / "image")
    assert unlabelled[0].mask is None
    with pytest.raises(DataError, match="no mask/"):
        read_dataset("dicom", dicom_root / "patientA" / "image", require_masks=True)


def test_tumour_names():
    for name in ("livertumor01", "livertumor7", "tumor", "livertumors", "Liver_Tumour", "tumors"):
        assert is_liver_tumour(name), name
    for name in ("liver", "liverkyst", "leftsurrenaltumor", "surrenaletumor", "bone", "portalvein"):
        assert not is_liver_tumour(name), name


def test_ircadb_patient_matches_phantom(tmp_path):
    folder, hu, labels = write_ircadb_patient(tmp_path, number=2, shape=(10, 40, 40), seed=1)
    volume, read_labels, used = read_ircadb_patient(folder)
    np.testing.assert_array_equal(volume.array, hu)  # image_10 sorts before image_2: positions decide
    np.testing.assert_array_equal(read_labels, labels)
    assert used == {"liver": "liver", "tumor": "tumour"}


def test_ircadb_reader(ircadb_root):
    cases = read_dataset("ircadb", ircadb_root, empty_fraction=0.0)
    assert {c.group for c in cases} == {"3Dircadb1.1", "3Dircadb1.2"}
    assert cases[0].spacing_mm == pytest.approx((0.57, 0.57))
    assert set(cases[0].meta["structures"]) == {"liver", "livertumor01", "livertumor02"}
    assert all(c.mask.any() for c in cases)
    assert len(read_dataset("ircadb", ircadb_root, limit=1)) == 12


def test_ircadb_without_liver_mask(tmp_path):
    folder, _, _ = write_ircadb_patient(tmp_path, number=1, shape=(6, 32, 32))
    with zipfile.ZipFile(folder / "MASKS_DICOM.zip") as src:
        kept = {n: src.read(n) for n in src.namelist() if "/liver/" not in n}
    with zipfile.ZipFile(folder / "MASKS_DICOM.zip", "w") as dst:
        for name, data in kept.items():
            dst.writestr(name, data)
    with pytest.raises(DataError, match="no 'liver' mask series"):
        read_ircadb_patient(folder)


def _check_conversion(volume_path, segmentation_path, liver_voxels, spacing_zyx):
    image, seg = nib.load(volume_path), nib.load(segmentation_path)
    assert nib.aff2axcodes(image.affine) == ("L", "P", "S") and nib.aff2axcodes(seg.affine) == ("L", "P", "S")
    np.testing.assert_allclose(image.affine, seg.affine)
    zooms = seg.header.get_zooms()
    assert zooms == pytest.approx(spacing_zyx[::-1], rel=1e-5)
    data = np.asarray(seg.dataobj)
    assert set(np.unique(data)) <= {0, 1, 2}
    liver_ml = np.count_nonzero(data) * float(np.prod(zooms)) / 1000
    assert liver_ml == pytest.approx(liver_voxels * float(np.prod(spacing_zyx)) / 1000, rel=1e-6)
    return data


def test_convert_ircadb_phantom_via_cli(tmp_path):
    from medseg.cli import app

    folder, hu, labels = write_ircadb_patient(tmp_path / "src", number=3, shape=(12, 48, 48), seed=2)
    result = CliRunner().invoke(app, ["convert", "ircadb", str(tmp_path / "src"), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    volume_path, segmentation_path = tmp_path / "out" / "volume-3.nii.gz", tmp_path / "out" / "segmentation-3.nii.gz"
    data = _check_conversion(volume_path, segmentation_path, int((labels > 0).sum()), (1.6, 0.57, 0.57))
    np.testing.assert_array_equal(data.transpose(2, 1, 0), labels)
    np.testing.assert_array_equal(load_nifti(volume_path).array, hu)
    # The converted volume reads back through the LiTS reader as the same slices.
    cases = read_dataset("nifti", tmp_path / "out")
    np.testing.assert_array_equal(np.stack([c.mask for c in cases]), labels)


@pytest.mark.realdata
def test_real_ircadb_converts_129_slices_with_the_liver_volume_of_its_mask(tmp_path):
    from medseg.data.volumes.dicom import dicom_files_in_zip, read_dicom_series

    folder = real_dataset("3dircadb") / "3Dircadb1.1"
    with zipfile.ZipFile(folder / "PATIENT_DICOM.zip") as archive:
        assert len([n for n in archive.namelist() if not n.endswith("/")]) == 129
    ((volume_path, segmentation_path),) = convert_ircadb(folder, tmp_path)
    assert volume_path.name == "volume-1.nii.gz"
    image = nib.load(volume_path)
    assert image.shape == (512, 512, 129) and image.get_data_dtype() == np.int16
    hu = np.asarray(image.dataobj)
    assert hu.min() >= -1024 and hu.max() <= 3071
    # The liver mask series read on its own: its voxel count times the voxel volume is the liver's ml.
    with zipfile.ZipFile(folder / "MASKS_DICOM.zip") as archive:
        liver = read_dicom_series(dicom_files_in_zip(archive, "MASKS_DICOM/liver/"), "liver", rescale=False)
    liver_voxels = int((liver.array > 127).sum())
    data = _check_conversion(volume_path, segmentation_path, liver_voxels, (1.6, 0.57, 0.57))
    assert set(np.unique(data)) == {0, 1, 2}
    liver_ml = liver_voxels * liver.voxel_ml
    assert 800 < liver_ml < 3000
    # The liver lies on the patient's right: low x index in L, P, S storage (image left).
    assert np.argwhere(data > 0)[:, 0].mean() < 256


@pytest.mark.realdata
def test_real_ircadb_reader_subset():
    all_cases = read_dataset("ircadb", real_dataset("3dircadb"), stride=16)
    cases = [c for c in all_cases if c.group == "3Dircadb1.1"]
    assert [c.meta["slice_index"] for c in cases] == list(range(0, 129, 16))
    assert cases[0].image.shape == (512, 512) and cases[0].spacing_mm == pytest.approx((0.57, 0.57), rel=1e-5)
    assert cases[0].meta["n_slices"] == 129 and cases[0].group == "3Dircadb1.1"
    assert sum(v == "tumour" for v in cases[0].meta["structures"].values()) == 7
    assert {int(v) for c in cases for v in np.unique(c.mask)} == {0, 1, 2}
    assert len({c.group for c in all_cases}) == len(list(real_dataset("3dircadb").glob("3Dircadb*")))
