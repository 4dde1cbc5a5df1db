"""Fixtures of the volume tests."""

from __future__ import annotations

import pytest

from tests.data.volumes.helpers import small_phantom


@pytest.fixture(scope="module")
def phantom():
    return small_phantom()
