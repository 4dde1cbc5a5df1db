"""The ``ct`` reader: 3D-IRCADb, LiTS and MSD recognised from the files."""

from __future__ import annotations

import numpy as np
import pytest

from medseg.data.readers import read_dataset
from medseg.errors import DataError


def test_ct_reader_recognises_each_layout(lits_root, msd_root, ircadb_root, tmp_path):
    from medseg.data.readers.ct import detect_ct_layout

    for root, layout in ((lits_root, "nifti"), (msd_root, "msd"), (ircadb_root, "ircadb")):
        assert detect_ct_layout(root) == layout
        cases = read_dataset("ct", root, stride=2)
        expected = read_dataset(layout, root, stride=2)
        assert [c.id for c in cases] == [c.id for c in expected]
        assert all(np.array_equal(a.mask, b.mask) for a, b in zip(cases, expected, strict=True))
    one_patient = next(p for p in ircadb_root.iterdir() if p.is_dir())
    assert {c.group for c in read_dataset("ct", one_patient)} == {one_patient.name}
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="not a CT dataset"):
        read_dataset("ct", tmp_path / "empty")
