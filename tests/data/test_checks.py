"""Data checks at the boundary: colour masks, spacing, image size limits, every problem at once."""

import time

import cv2
import numpy as np
import pytest

from medseg.data.checks import check_spacing
from medseg.data.io import pixel_limit, read_image, read_mask
from medseg.data.readers import check_dataset, read_dataset
from medseg.errors import DataError

from ..bad_inputs import png_bomb


def _dataset(root, n=3):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        cv2.imwrite(str(root / "images" / f"c{i}.png"), np.full((12, 16), 100, np.uint8))
        mask = np.zeros((12, 16), np.uint8)
        mask[2:6, 3:9] = 255
        cv2.imwrite(str(root / "masks" / f"c{i}.png"), mask)
    return root


def _red_on_black(path):
    bgr = np.zeros((12, 16, 3), np.uint8)
    bgr[2:6, 3:9, 2] = 255
    cv2.imwrite(str(path), bgr)


def test_red_on_black_mask_is_refused_not_read_as_background(tmp_path):
    _red_on_black(tmp_path / "m.png")
    with pytest.raises(DataError, match=r"m\.png: colour mask .* palette"):
        read_mask(tmp_path / "m.png")


def test_declared_palette_maps_colours_to_labels(tmp_path):
    root = _dataset(tmp_path / "d")
    _red_on_black(root / "masks" / "c1.png")
    with pytest.raises(DataError, match="colour mask"):
        read_dataset("folder", root)
    cases = read_dataset("folder", root, palette={1: [255, 0, 0]})
    assert int(cases[1].mask.sum()) == 4 * 6 and set(np.unique(cases[1].mask)) == {0, 1}
    with pytest.raises(DataError, match="not in the palette"):
        read_dataset("folder", root, palette={1: [0, 255, 0]})


def test_grey_mask_saved_as_rgb_reads_as_grey(tmp_path):
    grey = np.zeros((12, 16, 3), np.uint8)
    grey[2:6, 3:9] = 255
    cv2.imwrite(str(tmp_path / "g.png"), grey)
    assert read_mask(tmp_path / "g.png").max() == 255


def test_decompression_bomb_is_refused_from_its_header(tmp_path):
    bomb = png_bomb(tmp_path / "bomb.png")
    assert bomb.stat().st_size < 400_000
    start = time.perf_counter()
    with pytest.raises(DataError, match=r"bomb\.png: image of 12000x12000 pixels exceeds"):
        read_image(bomb)
    assert time.perf_counter() - start < 2.0  # decoding 144 million pixels would take far longer
    small = png_bomb(tmp_path / "small.png", side=1000)
    with pixel_limit(500_000), pytest.raises(DataError, match="exceeds the limit of 500000"):
        read_image(small)
    assert read_image(small, max_pixels=2_000_000).shape == (1000, 1000)


@pytest.mark.parametrize("spacing", [(float("nan"), 1.0), (1.0, float("inf")), (0.0, 1.0), (-1.0, 1.0), ("a", 1)])
def test_spacing_must_be_finite_and_positive(spacing):
    with pytest.raises(DataError, match="spacing"):
        check_spacing(spacing, "x.nii")


def test_check_dataset_reports_every_problem(tmp_path):
    root = _dataset(tmp_path / "d", n=5)
    _red_on_black(root / "masks" / "c0.png")
    (root / "images" / "c2.png").write_bytes(b"junk")
    cv2.imwrite(str(root / "masks" / "c4.png"), np.full((12, 16), 7, np.uint8))
    cases, problems = check_dataset("folder", root, max_label=1)
    assert [c.id for c in cases] == ["c1", "c3"]
    assert sorted(p.path.name for p in problems) == ["c0.png", "c2.png", "c4.png"]
