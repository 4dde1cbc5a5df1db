import cv2
import numpy as np
import pytest

from medseg.data.readers import read_dataset
from medseg.errors import ConfigError, DataError


def _write(folder, name, array):
    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / name), array)


def test_reads_matching_images_and_binarises_masks(tmp_path):
    for i in range(3):
        _write(tmp_path / "images", f"c{i}.png", np.full((20, 30), 100, np.uint8))
        mask = np.zeros((20, 30), np.uint8)
        mask[5:10, 5:10] = 255
        _write(tmp_path / "masks", f"c{i}.png", mask)
    cases = read_dataset("folder", tmp_path)
    assert [c.id for c in cases] == ["c0", "c1", "c2"]
    assert cases[0].mask.max() == 1 and cases[0].mask.sum() == 25


def test_label_maps_are_kept(tmp_path):
    _write(tmp_path / "images", "a.png", np.zeros((8, 8), np.uint8))
    _write(tmp_path / "masks", "a.png", np.arange(64, dtype=np.uint8).reshape(8, 8) % 3)
    assert read_dataset("folder", tmp_path)[0].mask.max() == 2


def test_missing_mask_and_size_mismatch(tmp_path):
    _write(tmp_path / "images", "a.png", np.zeros((8, 8), np.uint8))
    (tmp_path / "masks").mkdir()
    with pytest.raises(DataError, match="a.png.*no mask"):
        read_dataset("folder", tmp_path)
    _write(tmp_path / "masks", "a.png", np.zeros((9, 8), np.uint8))
    with pytest.raises(DataError, match="masks/a.png.*differs"):
        read_dataset("folder", tmp_path)


def test_empty_folder_and_unknown_layout(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(DataError, match="no image files"):
        read_dataset("folder", tmp_path)
    with pytest.raises(ConfigError, match="known: .*hc18"):
        read_dataset("nonexistent_layout", tmp_path)
