"""DICOM series (CT, MR): one series per volume, an optional mask series with the same slices.

```
root/image/...    the image series (any file names; sorted by ImagePositionPatient)
root/mask/...     optional: a mask series of the same slices (0/255 or label values)
```
or several volumes, one folder each: ``root/<volume>/image/`` + ``root/<volume>/mask/``; or ``root``
itself holding the files of one unlabelled series. Values are rescaled to Hounsfield units with
RescaleSlope/RescaleIntercept; slices become 2D cases as with the NIfTI readers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medseg.data.case import Case
from medseg.data.checks import case_guard, check_spacing
from medseg.data.readers.registry import READERS
from medseg.data.slice_options import SliceOptions
from medseg.data.volumes.base import Volume
from medseg.data.volumes.dicom import dicom_files_in_folder, read_dicom_series
from medseg.data.volumes.nifti import save_nifti
from medseg.errors import DataError


def mask_series_labels(mask: Volume, image: Volume, where: str | Path, mode: str = "auto") -> np.ndarray:
    """Converts a mask series into ``(Z, Y, X)`` uint8 labels aligned with ``image``.

    Args:
        mode: ``"binary"`` (``> 127`` of 0/255 masks, or ``> 0`` for 0/1 masks -> 1), ``"labels"`` (values as
            they are) or ``"auto"`` (binary when the maximum exceeds 20).

    Raises:
        DataError: the mask series has other slices, size or positions than the image series.
    """
    if mask.array.shape != image.array.shape[:3]:
        raise DataError(where, f"mask series {mask.array.shape} differs from the image series {image.array.shape}")
    positions, image_positions = mask.meta.get("positions"), image.meta.get("positions")
    if positions and image_positions and None not in positions and None not in image_positions:
        gap = float(np.abs(np.array(positions) - np.array(image_positions)).max())
        if gap > 0.01 * max(image.spacing_zyx[0], 1e-3):
            raise DataError(where, f"mask slices are not at the image slices' positions (off by up to {gap:.3g} mm)")
    values = mask.array
    if mode not in ("auto", "binary", "labels"):
        raise ValueError(f"mask mode must be auto, binary or labels, got {mode!r}")
    if mode == "binary" or (mode == "auto" and values.max() > 20):
        threshold = 127 if values.max() > 20 else 0
        return (values > threshold).astype(np.uint8)
    if values.min() < 0 or values.max() > 255:
        raise DataError(where, f"mask values {values.min()}..{values.max()} are not labels 0..255")
    return values.astype(np.uint8)


def _series_folders(root: Path, images: str, masks: str) -> list[tuple[str, Path, Path | None]]:
    if (root / images).is_dir():
        return [(root.name, root / images, root / masks if (root / masks).is_dir() else None)]
    nested = [d for d in sorted(root.iterdir()) if d.is_dir() and (d / images).is_dir()]
    if nested:
        return [(d.name, d / images, d / masks if (d / masks).is_dir() else None) for d in nested]
    return [(root.name, root, None)]


@READERS.register("dicom")
def read_dicom(
    root: Path,
    images: str = "image",
    masks: str = "mask",
    mask_mode: str = "auto",
    require_masks: bool = False,
    empty_fraction: float = 1.0,
    stride: int = 1,
    label_map: dict[Any, Any] | None = None,
    seed: int = 0,
) -> list[Case]:
    """Reads DICOM series (and optional mask series) as axial slice cases.

    Args:
        images, masks: sub-folder names of the image and mask series.
        mask_mode: see :func:`mask_series_labels`.
        require_masks: error on a series without mask series.
        empty_fraction, stride, label_map, seed: as for the ``nifti`` reader.

    Returns:
        Cases ``<volume>_zKKK`` with HU images (int16 or float32), masks uint8 or None, ``meta`` with
        ``spacing_mm``, ``group`` = the volume folder, ``affine`` (RAS, as ``medseg convert`` writes it).

    Raises:
        DataError: missing folder, no DICOM files, masks not matching the images.
    """
    root = Path(root)
    slicing = SliceOptions(empty_fraction, stride, seed, label_map)
    if not root.is_dir():
        raise DataError(root, "DICOM folder not found")
    cases: list[Case] = []
    for name, image_dir, mask_dir in _series_folders(root, images, masks):
        with case_guard():
            if mask_dir is None and require_masks:
                raise DataError(image_dir.parent, f"no {masks}/ mask series beside {image_dir.name}/")
            volume = read_dicom_series(dicom_files_in_folder(image_dir), image_dir)
            check_spacing(volume.spacing_zyx, image_dir)
            labels = None
            if mask_dir is not None:
                mask = read_dicom_series(dicom_files_in_folder(mask_dir), mask_dir, rescale=False)
                labels = mask_series_labels(mask, volume, mask_dir, mask_mode)
            cases += slicing.cases(volume, labels, name, name)
    return cases


def convert_dicom(
    src: str | Path, out: str | Path, images: str = "image", masks: str = "mask", mask_mode: str = "auto"
) -> list[tuple[Path, Path | None]]:
    """Converts DICOM series (layout above) to LiTS-style NIfTI: ``out/volume-I.nii.gz`` (HU) and, with a
    mask series, ``out/segmentation-I.nii.gz``; I numbers the series 0.. in folder order.

    The affine is the series' geometry (DICOM LPS -> RAS), as for :func:`medseg.data.readers.ircadb.convert_ircadb`.

    Returns:
        ``(volume path, segmentation path or None)`` per series.
    """
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise DataError(src, "DICOM folder not found")
    written = []
    for index, (_, image_dir, mask_dir) in enumerate(_series_folders(src, images, masks)):
        volume = read_dicom_series(dicom_files_in_folder(image_dir), image_dir)
        check_spacing(volume.spacing_zyx, image_dir)
        image_path = save_nifti(volume.to_xyz(), volume.affine, out / f"volume-{index}.nii.gz")
        label_path = None
        if mask_dir is not None:
            mask = read_dicom_series(dicom_files_in_folder(mask_dir), mask_dir, rescale=False)
            labels = mask_series_labels(mask, volume, mask_dir, mask_mode)
            label_path = save_nifti(labels.transpose(2, 1, 0), volume.affine, out / f"segmentation-{index}.nii.gz")
        written.append((image_path, label_path))
    return written
