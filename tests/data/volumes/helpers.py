"""Helpers of the volume tests: a small CT phantom and NIfTI files stored in any orientation."""

from __future__ import annotations

import nibabel as nib
import numpy as np

from medseg.data.phantoms.ct import display_affine, liver_phantom
from medseg.data.volumes.nifti import save_nifti


def small_phantom() -> tuple[np.ndarray, np.ndarray]:
    """``(10, 40, 48)`` int16 HU and uint8 labels (0/1/2)."""
    return liver_phantom(np.random.default_rng(0), (10, 40, 48))


def write_as(path, hu_zyx, codes):
    """Stores a display-order (L, P, S) volume with other axis codes."""
    affine = display_affine((2.5, 0.8, 0.7), hu_zyx.shape)
    data = hu_zyx.transpose(2, 1, 0)
    transform = nib.orientations.ornt_transform(
        nib.orientations.axcodes2ornt(("L", "P", "S")), nib.orientations.axcodes2ornt(codes)
    )
    stored = nib.orientations.apply_orientation(data, transform)
    stored_affine = affine @ nib.orientations.inv_ornt_aff(transform, data.shape)
    return save_nifti(stored, stored_affine, path, hu_zyx.dtype)
