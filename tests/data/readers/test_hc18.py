import shutil

import numpy as np
import pytest

from medseg.data.readers import read_dataset
from medseg.data.readers.hc18 import read_hc18, subject_of
from medseg.errors import DataError

from ...conftest import shared_dataset


@pytest.fixture
def hc18_copy(hc18_synthetic, tmp_path):
    return shutil.copytree(hc18_synthetic, tmp_path / "hc18")


def test_reads_train_and_test_layouts(hc18_synthetic):
    cases = read_dataset("hc18", hc18_synthetic)
    assert len(cases) >= 12
    case = cases[0]
    assert case.image.shape == (96, 128) and case.mask.shape == (96, 128)
    assert set(np.unique(case.mask)) == {0, 1}
    assert case.spacing_mm[0] == case.spacing_mm[1] > 0
    assert case.meta["reference"]["hc_mm"] > 0
    tests = read_hc18(hc18_synthetic, subset="test")
    assert tests and all(c.mask is None for c in tests)


def test_second_scans_share_the_subject():
    assert subject_of("010_2HC.png") == subject_of("010_HC.png") == "010"


def test_missing_annotation_names_the_file(hc18_copy):
    (hc18_copy / "training_set" / "003_HC_Annotation.png").unlink()
    with pytest.raises(DataError, match="003_HC_Annotation.png"):
        read_hc18(hc18_copy)


def test_corrupt_png_names_the_file(hc18_copy):
    (hc18_copy / "training_set" / "002_HC.png").write_bytes(b"not a png at all")
    with pytest.raises(DataError, match="002_HC.png.*decoded"):
        read_hc18(hc18_copy)


def test_annotation_of_wrong_size(hc18_copy):
    import cv2

    path = hc18_copy / "training_set" / "001_HC_Annotation.png"
    cv2.imwrite(str(path), np.zeros((50, 50), np.uint8))
    with pytest.raises(DataError, match="001_HC_Annotation.png.*differs"):
        read_hc18(hc18_copy)


def test_csv_without_the_files_row(hc18_copy):
    csv_path = hc18_copy / "training_set_pixel_size_and_HC.csv"
    lines = [line for line in csv_path.read_text().splitlines() if not line.startswith("000_HC.png")]
    csv_path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="no row for 000_HC.png"):
        read_hc18(hc18_copy)


def test_empty_folder(tmp_path):
    (tmp_path / "training_set").mkdir()
    with pytest.raises(DataError, match="no HC18 images"):
        read_hc18(tmp_path)


@pytest.mark.realdata
def test_real_hc18_counts_and_geometry():
    root = shared_dataset("hc18")
    images = sorted((root / "training_set").glob("*HC.png"))
    assert len(images) == 803
    cases = read_hc18(root, limit=10)
    assert all(c.image.shape == (540, 800) and c.mask.shape == (540, 800) for c in cases)
    assert all(0.05 <= c.spacing_mm[0] <= 0.35 for c in cases)
