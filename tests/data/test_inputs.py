"""Inputs to predict: images, single- and multi-frame DICOM, NumPy crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medseg.data.inputs import list_inputs, read_inputs
from medseg.data.phantoms import write_bone_scan_dataset
from medseg.errors import DataError


def write_multiframe_nm(path: Path, frames: np.ndarray, pixel_size_mm: float = 3.2) -> Path:
    """A two-view nuclear-medicine object: ``frames`` ``(F, H, W)``, spacing in the detector module."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, NuclearMedicineImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = NuclearMedicineImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = NuclearMedicineImageStorage, meta.MediaStorageSOPInstanceUID, "NM"
    ds.NumberOfFrames = len(frames)
    ds.Rows, ds.Columns = frames.shape[1:]
    detector = Dataset()
    detector.PixelSpacing = [pixel_size_mm, pixel_size_mm]
    ds.DetectorInformationSequence = [detector]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = frames.astype(np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def test_single_and_multi_frame_dicom(tmp_path):
    root = write_bone_scan_dataset(tmp_path / "bone", n_patients=1, shape=(64, 32), fmt="dicom", pixel_size_mm=2.4)
    (single,) = read_inputs(root / "images" / "P000_anterior.dcm")
    assert single.name == "P000_anterior" and single.image.shape == (64, 32) and single.spacing_mm == (2.4, 2.4)
    frames = np.stack([np.full((64, 32), 7), np.arange(64 * 32).reshape(64, 32) % 500])
    items = read_inputs(write_multiframe_nm(tmp_path / "in" / "scan.dcm", frames))
    assert [i.name for i in items] == ["scan_frame1", "scan_frame2"]
    assert all(i.spacing_mm == (3.2, 3.2) and i.image.dtype == np.float32 for i in items)
    np.testing.assert_array_equal(items[1].image, frames[1])
    assert read_inputs(root / "images" / "P000_anterior.dcm", color=True)[0].image.shape == (64, 32, 3)


def test_npy_only_for_models_trained_on_arrays(tmp_path):
    crop = (np.random.default_rng(0).random((64, 64)) * 3).astype(np.float16)
    np.save(tmp_path / "crop.npy", crop)
    (item,) = read_inputs(tmp_path / "crop.npy", layout="lidc")
    assert item.image.dtype == np.float32 and item.spacing_mm is None
    np.testing.assert_allclose(item.image, crop.astype(np.float32))
    with pytest.raises(DataError, match="trained on the 'hc18' layout"):
        read_inputs(tmp_path / "crop.npy", layout="hc18")
    np.save(tmp_path / "cube.npy", np.zeros((4, 4, 4, 4)))
    with pytest.raises(DataError, match="cube.npy: expected a 2D array"):
        read_inputs(tmp_path / "cube.npy", layout="lidc")


def test_listing_and_unreadable_files(tmp_path):
    with pytest.raises(DataError, match="input folder not found"):
        list_inputs(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="no inputs"):
        list_inputs(tmp_path)
    (tmp_path / "broken.dcm").write_bytes(b"not a dicom file")
    (tmp_path / "a.npy").write_bytes(b"nope")
    assert [p.name for p in list_inputs(tmp_path)] == ["a.npy", "broken.dcm"]
    with pytest.raises(DataError, match="broken.dcm: cannot be read as a DICOM image"):
        read_inputs(tmp_path / "broken.dcm")
    with pytest.raises(DataError, match="a.npy: cannot be read as a NumPy array"):
        read_inputs(tmp_path / "a.npy", layout="lidc")


def test_planar_dicom_and_npy_folders_are_not_volumes(tmp_path):
    from medseg.data.inputs import holds_planar_inputs
    from medseg.data.phantoms import write_dicom_series
    from medseg.inference.volume import is_volume_input

    bone = write_bone_scan_dataset(tmp_path / "bone", n_patients=1, shape=(64, 32), fmt="dicom")
    assert holds_planar_inputs(list((bone / "images").iterdir())) and not is_volume_input(bone / "images")
    np.save(tmp_path / "crops.npy", np.zeros((8, 8)))
    assert not is_volume_input(tmp_path)
    series = tmp_path / "ct"
    write_dicom_series(series, np.zeros((3, 16, 16), np.int16), (2.0, 0.7, 0.7))
    assert not holds_planar_inputs(list(series.iterdir())) and is_volume_input(series)  # a CT series


def test_a_folder_with_dangling_links_names_the_link_not_a_missing_dicom_series(tmp_path):
    from medseg.inference.volume import is_volume_input

    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "001_HC.png").symlink_to(tmp_path / "elsewhere" / "001_HC.png")  # e.g. a relative link moved
    with pytest.raises(DataError, match=r"001_HC.png: a link to .*elsewhere.*, which does not exist \(1 such"):
        is_volume_input(folder)
    with pytest.raises(DataError, match="001_HC.png: a link to"):
        list_inputs(folder)
