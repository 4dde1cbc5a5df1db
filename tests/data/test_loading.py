"""load_cases: a dataset read and checked the way its config says."""

from __future__ import annotations

import shutil

import pytest

from medseg.config import load_config
from medseg.data.loading import load_cases
from medseg.errors import DataError


def test_load_cases_reads_every_case_of_the_configured_layout(hc18_synthetic):
    cases = load_cases(load_config("demo"), hc18_synthetic)
    assert cases and all(case.mask is not None and case.meta["spacing_mm"] for case in cases)


def test_load_cases_refuses_a_crop_that_removes_whole_images(hc18_synthetic):
    config = load_config("demo", ["data.crop=[50,50,0,0]"])  # the phantoms are 96 pixels high
    with pytest.raises(DataError, match=r"removes the whole 96x128 image.*\(and \d+ more images\)"):
        load_cases(config, hc18_synthetic)


def test_load_cases_names_the_first_bad_file_and_counts_the_rest(hc18_synthetic, tmp_path):
    data = shutil.copytree(hc18_synthetic, tmp_path / "hc18")
    images = sorted((data / "training_set").glob("*HC.png"))
    for image in images[:2]:
        image.write_bytes(b"not a png")
    with pytest.raises(DataError, match=images[0].name) as error:
        load_cases(load_config("demo"), data)
    assert "(and 1 more problems: medseg check" in str(error.value)
