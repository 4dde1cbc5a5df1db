"""DICOM series: slices sorted by position, rescaled to HU, geometry and consistency checks."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from medseg.data.phantoms.ct import write_dicom_series
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
