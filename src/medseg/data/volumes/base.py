"""The :class:`Volume` record shared by the NIfTI and DICOM readers, and the axis conventions.

See :mod:`medseg.data.volumes` for the conventions (``(Z, Y, X)`` display-order slices, RAS affine).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medseg.errors import DataError

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
DISPLAY_AXCODES = ("L", "P", "S")


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
