"""Colonoscopy readers: Kvasir-SEG and CVC-ClinicDB (TIFF release and JPG re-release)."""

from __future__ import annotations

import numpy as np
import pytest

from medseg.data.phantoms import write_cvc_dataset
from medseg.data.readers import read_dataset
from medseg.data.readers.cvc import OFFICIAL_SEQUENCES, parse_sequence_table
from medseg.errors import DataError

from ..conftest import real_dataset


def test_kvasir_phantom(kvasir_root):
    cases = read_dataset("kvasir", kvasir_root)
    assert len(cases) == 6
    assert {c.image.shape for c in cases} == {(96, 128, 3), (80, 100, 3), (120, 140, 3)}
    for case in cases:
        assert case.image.dtype == np.uint8 and set(np.unique(case.mask)) == {0, 1}
        # The JPEG mask's polyp is where the frame is reddest.
        red = case.image[:, :, 0].astype(float) - case.image[:, :, 2]
        assert red[case.mask == 1].mean() > red[case.mask == 0].mean()
        assert case.group == case.id
    grey = read_dataset("kvasir", kvasir_root, color=False, limit=2)
    assert len(grey) == 2 and grey[0].image.ndim == 2


def test_kvasir_missing_mask(kvasir_root, tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    source = next((kvasir_root / "images").iterdir())
    (tmp_path / "images" / source.name).write_bytes(source.read_bytes())
    with pytest.raises(DataError, match="no mask named"):
        read_dataset("kvasir", tmp_path)


@pytest.mark.parametrize("layout", ["tiff", "jpg"])
def test_cvc_layouts_and_sequences(tmp_path, layout):
    root = write_cvc_dataset(tmp_path, frames_per_sequence=(3, 2, 4), layout=layout, seed=1)
    cases = read_dataset("cvc_clinicdb", root)
    assert [c.id for c in cases] == [str(i) for i in range(1, 10)]  # numeric frame order
    assert [c.group for c in cases] == ["seq01"] * 3 + ["seq02"] * 2 + ["seq03"] * 4
    assert cases[0].image.shape == (72, 96, 3) and set(np.unique(cases[0].mask)) == {0, 1}
    assert cases[4].meta["sequence"] == 2 and cases[4].meta["frame"] == 5


def test_cvc_sequence_table_falls_back_to_the_official_one(tmp_path):
    root = write_cvc_dataset(tmp_path / "a", frames_per_sequence=(30,), readme=False)
    cases = read_dataset("cvc_clinicdb", root)
    assert [c.meta["sequence"] for c in cases] == [1] * 25 + [2] * 5  # official: frames 1-25, 26-50
    (root / "README.txt").write_text("frames 1 to 10 | 1\nframes 5 to 12 | 2\n")  # overlapping: rejected
    assert parse_sequence_table(root / "README.txt") is None
    assert read_dataset("cvc_clinicdb", root)[-1].group == "seq02"
    assert len(OFFICIAL_SEQUENCES) == 29 and OFFICIAL_SEQUENCES[-1] == (592, 612, 29)


def test_cvc_errors(tmp_path):
    with pytest.raises(DataError, match="CVC-ClinicDB folders not found"):
        read_dataset("cvc_clinicdb", tmp_path)


@pytest.mark.realdata
def test_real_kvasir():
    root = real_dataset("kvasir-seg")
    assert len(list((root / "images").glob("*.jpg"))) == 800
    assert len(list((root / "masks").glob("*.jpg"))) == 800
    cases = read_dataset("kvasir", root, limit=8)
    assert len(cases) == 8
    for case in cases:
        assert case.image.ndim == 3 and case.image.shape[2] == 3
        assert case.mask.shape == case.image.shape[:2] and set(np.unique(case.mask)) == {0, 1}
        assert 332 <= case.image.shape[0] <= 1072 and 487 <= case.image.shape[1] <= 1920
    assert len({c.image.shape for c in cases}) > 1


@pytest.mark.realdata
def test_real_cvc_528_frames_in_25_sequences():
    root = real_dataset("cvc-clinicdb")
    table = parse_sequence_table(root / "README.txt")
    assert table == OFFICIAL_SEQUENCES  # the official README parses to the built-in table
    cases = read_dataset("cvc_clinicdb", root)
    assert len(cases) == 528
    assert len({c.group for c in cases}) == 25
    assert {c.image.shape for c in cases} == {(288, 384, 3)}
    assert all(set(np.unique(c.mask)) <= {0, 1} for c in cases)
    by_frame = {c.meta["frame"]: c.meta["sequence"] for c in cases}
    assert by_frame[1] == 1 and by_frame[200] == 10 and by_frame[205] == 10 and by_frame[528] == 25
