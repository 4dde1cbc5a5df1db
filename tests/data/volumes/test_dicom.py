"""DICOM series: slices sorted by position, rescaled to HU, geometry and consistency checks."""

from __future__ import annotations

import shutil
import zipfile

import nibabel as nib
import numpy as np
import pytest

from medseg.data.phantoms.ct import dicom_slices, write_dicom_series
from medseg.data.volumes.dicom import load_dicom_series
from medseg.errors import DataError


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


def _instance(path):
    import pydicom

    return int(pydicom.dcmread(path, stop_before_pixels=True).InstanceNumber)


def test_empty_folder_and_zip_without_dicom(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "a.txt").write_text("x")
    with pytest.raises(DataError, match="no DICOM image files in this folder"):
        load_dicom_series(tmp_path / "empty")
    with zipfile.ZipFile(tmp_path / "notes.zip", "w") as archive:
        archive.writestr("PATIENT_DICOM/readme.txt", "no images here")
    with pytest.raises(DataError, match=r"notes\.zip: no DICOM image files in this zip archive"):
        load_dicom_series(tmp_path / "notes.zip")


def test_missing_slice_names_the_files_either_side(tmp_path, phantom):
    hu, _ = phantom
    write_dicom_series(tmp_path / "gap", hu, (2.5, 0.8, 0.7))
    for path in (tmp_path / "gap").iterdir():  # remove an inner slice: a gap of twice the spacing
        if _instance(path) == 5:
            path.unlink()
    with pytest.raises(DataError, match=r"gap: missing slice: 1 slice\(s\) absent between slice_\d+\.dcm \(7\.50 mm\)"):
        load_dicom_series(tmp_path / "gap")


def test_duplicated_slice_position(tmp_path, phantom):
    hu, _ = phantom
    write_dicom_series(tmp_path / "dup", hu, (2.5, 0.8, 0.7))
    first = next(p for p in (tmp_path / "dup").iterdir() if _instance(p) == 3)
    shutil.copy(first, tmp_path / "dup" / "copy_of_slice.dcm")
    with pytest.raises(DataError, match=r"duplicated slice position 5\.00 mm: .*copy_of_slice\.dcm"):
        load_dicom_series(tmp_path / "dup")


@pytest.mark.parametrize("keep", [0.95, 0.5])
def test_truncated_slice_names_the_file(tmp_path, phantom, keep):
    hu, _ = phantom
    write_dicom_series(tmp_path / "cut", hu, (2.5, 0.8, 0.7))
    victim = sorted((tmp_path / "cut").iterdir())[4]
    data = victim.read_bytes()
    victim.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(DataError, match=rf"{victim.name}: (truncated|pixel data cannot be decoded)") as info:
        load_dicom_series(tmp_path / "cut")
    assert "\n" not in str(info.value)


def test_two_series_in_one_folder(tmp_path, phantom):
    hu, _ = phantom
    write_dicom_series(tmp_path / "mixed", hu, (2.5, 0.8, 0.7))
    for k, data in enumerate(dicom_slices(hu[:2], (2.5, 0.8, 0.7), origin_lps=(0.0, 0.0, 100.0))):
        (tmp_path / "mixed" / f"other_{k}.dcm").write_bytes(data)
    with pytest.raises(DataError, match="2 DICOM series mixed in one folder"):
        load_dicom_series(tmp_path / "mixed")


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
