"""NIfTI volumes sliced into axial 2D cases: the LiTS layout (``nifti``) and the Medical Segmentation
Decathlon layout (``msd``).

LiTS (Bilic et al. 2023), any folder depth under ``root``::

    root/.../volume-N.nii[.gz]         CT in Hounsfield units
    root/.../segmentation-N.nii[.gz]   0 background, 1 liver, 2 tumour

MSD (Antonelli et al. 2022)::

    root/dataset.json                  "training": [{"image": "./imagesTr/x.nii.gz", "label": ..}], "labels"
    root/imagesTr/x.nii.gz             3D, or 4D with the modalities last (e.g. brain MRI)
    root/labelsTr/x.nii.gz
    root/imagesTs/y.nii.gz             unlabelled

Volumes are read one at a time by :func:`medseg.data.volumes.nifti.load_nifti` (which holds every
check of a NIfTI file: header, voxel limit, voxel size, affine, finite values), reoriented so that
slices look as in a DICOM viewer (see :mod:`medseg.data.volumes`), and cut into cases
``<volume>_z<slice>`` whose ``group`` is the volume, with in-plane spacing and the volume's affine
in ``meta``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from medseg.data.case import Case
from medseg.data.checks import case_guard
from medseg.data.readers.registry import READERS
from medseg.data.slice_options import SliceOptions
from medseg.data.volumes.base import DISPLAY_AXCODES
from medseg.data.volumes.nifti import load_nifti, nifti_stem
from medseg.errors import DataError

_LITS_VOLUME = re.compile(r"^volume-(\d+)\.nii(\.gz)?$", re.IGNORECASE)
_LITS_SEGMENTATION = re.compile(r"^segmentation-(\d+)\.nii(\.gz)?$", re.IGNORECASE)


def read_labelled_volume(
    image_path: Path,
    label_path: Path | None,
    name: str,
    slicing: SliceOptions,
    orientation: Any = DISPLAY_AXCODES,
    channels: list[int] | None = None,
    extra_meta: dict[str, Any] | None = None,
    multichannel: bool = False,
) -> list[Case]:
    """Reads one image volume (and its label volume) into slice cases; see :meth:`SliceOptions.cases`.

    Raises:
        DataError: a label volume whose shape differs from the image volume (names the label file).
    """
    volume = load_nifti(image_path, orientation, channels=channels is not None or multichannel)
    labels = None
    if label_path is not None:
        label_volume = load_nifti(label_path, orientation, labels=True)
        if label_volume.array.shape != volume.array.shape[:3]:
            raise DataError(
                label_path,
                f"segmentation of shape {label_volume.source_shape} differs from its volume "
                f"{image_path.name} of shape {volume.source_shape[:3]}",
            )
        labels = label_volume.array
    if channels is not None:
        if volume.array.ndim != 4:
            raise DataError(image_path, f"channels={channels} given but the volume has no channel axis")
        volume.array = np.ascontiguousarray(volume.array[..., channels])
    return slicing.cases(volume, labels, name, name, extra_meta)


@READERS.register("nifti")
def read_lits(
    root: Path,
    empty_fraction: float = 1.0,
    stride: int = 1,
    limit: int | None = None,
    volumes: list[int] | None = None,
    label_map: dict[Any, Any] | None = None,
    require_masks: bool = True,
    orientation: Any = DISPLAY_AXCODES,
    seed: int = 0,
    roi_margin_mm: float | None = None,
    context_slices: int = 0,
) -> list[Case]:
    """Reads LiTS-layout NIfTI volumes as axial slices.

    Args:
        empty_fraction: fraction of slices without foreground kept (1: every slice, 0: liver slices only).
        stride: use every ``stride``-th slice.
        limit: read only the first ``limit`` volumes (by number).
        volumes: read only these volume numbers.
        label_map: ``{old: new}`` label changes, e.g. ``{2: 1}`` (liver incl. tumour) or ``{1: 0, 2: 1}``
            (tumour only).
        require_masks: error on a volume without segmentation; otherwise its slices get ``mask=None``.
        orientation: axis codes slices are reoriented to (default L, P, S); None keeps the stored axes.
        seed: draws the kept empty slices.
        roi_margin_mm, context_slices: a cascade's second stage (:class:`medseg.data.slice_options.SliceOptions`).

    Returns:
        Cases ``volume-N_zKKK``: image ``(H, W)`` int16 HU (float32 if not integral), mask uint8, ``meta``
        with ``spacing_mm``, ``group = volume-N``, ``volume_id``, ``slice_index``, ``affine``, ..

    Raises:
        DataError: no volumes, a missing segmentation, shapes that differ.
    """
    root = Path(root)
    slicing = SliceOptions(empty_fraction, stride, seed, label_map, roi_margin_mm, context_slices)
    if not root.is_dir():
        raise DataError(root, "LiTS folder not found")
    images: dict[int, Path] = {}
    labels: dict[int, Path] = {}
    for path in sorted(root.rglob("*.nii*")):
        if match := _LITS_VOLUME.match(path.name):
            images[int(match.group(1))] = path
        elif match := _LITS_SEGMENTATION.match(path.name):
            labels[int(match.group(1))] = path
    if not images:
        raise DataError(root, "no LiTS volumes (volume-N.nii or volume-N.nii.gz) found")
    numbers = sorted(images) if volumes is None else [int(v) for v in volumes]
    unknown = [n for n in numbers if n not in images]
    if unknown:
        raise DataError(root, f"no volume-{unknown[0]}.nii[.gz]; volumes present: {sorted(images)}")
    if limit is not None:
        numbers = numbers[:limit]
    cases: list[Case] = []
    for number in numbers:
        label_path = labels.get(number)
        with case_guard():
            if label_path is None and require_masks:
                raise DataError(images[number], f"no segmentation-{number}.nii[.gz] for this volume")
            cases += read_labelled_volume(images[number], label_path, nifti_stem(images[number]), slicing, orientation)
    return cases


def _msd_entries(root: Path, subset: str) -> list[tuple[Path, Path | None]]:
    dataset_json = root / "dataset.json"
    entries: list[tuple[Path, Path | None]] = []
    if dataset_json.is_file():
        try:
            info = json.loads(dataset_json.read_text())
        except json.JSONDecodeError as exc:
            raise DataError(dataset_json, f"invalid JSON: {exc}") from None
        if subset == "train":
            for item in info.get("training", []):
                if not isinstance(item, dict) or "image" not in item:
                    raise DataError(dataset_json, f"training entry {item!r} lacks an 'image' path")
                label = item.get("label")
                entries.append((root / item["image"], root / label if label else None))
        else:
            entries = [
                (root / (item["image"] if isinstance(item, dict) else item), None) for item in info.get("test", [])
            ]
    if not entries:
        folder = root / ("imagesTr" if subset == "train" else "imagesTs")
        if not folder.is_dir():
            raise DataError(root, f"MSD layout not found (no dataset.json entries and no {folder.name}/)")
        for path in sorted(folder.glob("*.nii*")):
            if path.name.startswith("."):
                continue
            label = root / "labelsTr" / path.name
            entries.append((path, label if subset == "train" else None))
    return entries


@READERS.register("msd")
def read_msd(
    root: Path,
    subset: str = "train",
    empty_fraction: float = 1.0,
    stride: int = 1,
    limit: int | None = None,
    label_map: dict[Any, Any] | None = None,
    channels: list[int] | None = None,
    orientation: Any = DISPLAY_AXCODES,
    seed: int = 0,
    roi_margin_mm: float | None = None,
    context_slices: int = 0,
) -> list[Case]:
    """Reads a Medical Segmentation Decathlon task as axial slices.

    Args:
        subset: ``"train"`` (imagesTr + labelsTr) or ``"test"`` (imagesTs, no masks).
        channels: modalities to keep from 4D images (indices of dataset.json's ``modality``); None keeps all
            (images are ``(H, W, C)``).
        empty_fraction, stride, limit, label_map, orientation, seed: as for the ``nifti`` reader.

    Returns:
        Cases ``<name>_zKKK`` with ``meta.group`` = the volume's name.

    Raises:
        DataError: missing dataset.json entries or files.
    """
    root = Path(root)
    slicing = SliceOptions(empty_fraction, stride, seed, label_map, roi_margin_mm, context_slices)
    if subset not in ("train", "test"):
        raise ValueError(f"subset must be 'train' or 'test', got {subset!r}")
    entries = _msd_entries(root, subset)
    if limit is not None:
        entries = entries[:limit]
    cases: list[Case] = []
    for image_path, label_path in entries:
        with case_guard():
            if subset == "train" and (label_path is None or not label_path.is_file()):
                raise DataError(label_path or image_path, "label volume not found for this training image")
            cases += read_labelled_volume(
                image_path, label_path, nifti_stem(image_path), slicing, orientation, channels, multichannel=True
            )
    return cases
