"""Volumes cut into slice cases."""

from __future__ import annotations

import numpy as np
import pytest

from medseg.data.volumes.slicing import select_slices


def test_select_slices():
    labels = np.zeros((10, 4, 4), np.uint8)
    labels[3:6, 1, 1] = 1
    assert select_slices(labels, 10) == list(range(10))
    assert select_slices(labels, 10, empty_fraction=0.0) == [3, 4, 5]
    assert len(select_slices(labels, 10, empty_fraction=0.5, seed=1)) == 3 + 4
    assert select_slices(labels, 10, stride=3) == [0, 3, 6, 9]
    with pytest.raises(ValueError, match="stride"):
        select_slices(labels, 10, stride=0)
