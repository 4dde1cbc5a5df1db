"""The :class:`Volume` record shared by the NIfTI and DICOM readers, and the axis conventions.

See :mod:`medseg.data.volumes` for the conventions (``(Z, Y, X)`` display-order slices, RAS affine).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medseg.errors import DataError

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
DISPLAY_AXCODES = ("L", "P", "S")
DEFAULT_MAX_VOXELS = 512 * 512 * 1200  # a large CT; an 8 GiB volume declared by a small .nii.gz does not pass
_MAX_VOXELS: contextvars.ContextVar[int] = contextvars.ContextVar("max_voxels", default=DEFAULT_MAX_VOXELS)


@contextlib.contextmanager
def voxel_limit(max_voxels: int | None) -> Iterator[None]:
    """Within the block, volume readers refuse volumes of more than ``max_voxels`` (None: unchanged)."""
    if max_voxels is None:
        yield
        return
    token = _MAX_VOXELS.set(int(max_voxels))
    try:
        yield
    finally:
        _MAX_VOXELS.reset(token)


def check_voxels(shape: tuple[int, ...], where: str | Path) -> None:
    """Refuses a volume whose header declares more voxels than the limit, before its data is read.

    Raises:
        DataError: names the file, the size and the limit (``data.max_voxels``).
    """
    count = int(np.prod([int(n) for n in shape], dtype=np.float64))
    limit = _MAX_VOXELS.get()
    if count > limit:
        raise DataError(
            where,
            f"volume of {'x'.join(str(int(n)) for n in shape)} = {count} voxels exceeds the limit of {limit} "
            "(raise data.max_voxels)",
        )


@dataclass
class Volume:
    """A 3D image as axial slices.

    Attributes:
        array: ``(Z, Y, X)`` intensities (Hounsfield units for CT) or labels.
        affine: ``(4, 4)`` voxel ``(x, y, z)`` -> RAS mm for ``array.transpose(2, 1, 0)``.
        source: the file or folder it was read from.
        to_source: nibabel orientation transform from this array's ``(x, y, z)`` back to the file's
            stored axes (None when they are the same).
        source_shape: the stored array's shape (``(x, y, z)`` order for NIfTI).
    """

    array: np.ndarray
    affine: np.ndarray
    source: Path | None = None
    to_source: np.ndarray | None = None
    source_shape: tuple[int, ...] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def spacing_zyx(self) -> tuple[float, float, float]:
        """Voxel size in mm along ``(Z, Y, X)``."""
        zooms = np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))
        return float(zooms[2]), float(zooms[1]), float(zooms[0])

    @property
    def spacing_mm(self) -> tuple[float, float]:
        """In-plane ``(row, col)`` pixel spacing of a slice."""
        return self.spacing_zyx[1], self.spacing_zyx[2]

    @property
    def voxel_ml(self) -> float:
        """Volume of one voxel in millilitres."""
        z, y, x = self.spacing_zyx
        return z * y * x / 1000.0

    def to_xyz(self) -> np.ndarray:
        """The array in NIfTI ``(x, y, z)`` order matching :attr:`affine`."""
        return self.array.transpose(2, 1, 0)


def check_finite(array: np.ndarray, where: str | Path) -> None:
    """Raises a :class:`DataError` naming ``where`` when a float array holds NaN or infinite voxels."""
    if not np.issubdtype(array.dtype, np.floating):
        return
    bad = ~np.isfinite(array)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataError(where, f"{int(bad.sum())} NaN or infinite voxel(s), the first at index {first}")
