"""The ``nnunet`` reader: an nnU-Net v2 raw dataset as medseg cases (the export is
:mod:`medseg.data.converters.nnunet`, so data moves both ways).

Layout (Isensee et al. 2021, nnU-Net v2 ``nnUNet_raw``)::

    DatasetXXX_Name/dataset.json        {"channel_names": {"0": "CT"}, "labels": {"background": 0, ..},
                                         "numTraining": N, "file_ending": ".nii.gz" | ".png" | ..}
    DatasetXXX_Name/imagesTr/<case>_0000<ending>   one file per channel (_0000, _0001, ..)
    DatasetXXX_Name/labelsTr/<case><ending>        integer labels
    DatasetXXX_Name/imagesTs/<case>_0000<ending>   unlabelled

2D natural images (``.png`` ..) are one case each; an RGB image is one ``_0000`` file with three
``channel_names`` (R, G, B), as nnU-Net's natural-image reader expects. NIfTI files are volumes,
sliced into axial cases like the ``nifti`` reader (a one-slice NIfTI is one 2D case). medseg's export
adds a ``"medseg"`` entry to ``dataset.json`` (groups and pixel spacing) that nnU-Net ignores and the
import uses, so a round trip keeps patient groups and spacing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from medseg.data.case import Case
from medseg.data.readers.registry import READERS
from medseg.data.slice_options import SliceOptions
from medseg.data.volumes.base import DISPLAY_AXCODES, Volume
from medseg.data.volumes.nifti import load_nifti
from medseg.errors import DataError

NATURAL_ENDINGS = (".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg")
NIFTI_ENDINGS = (".nii.gz", ".nii")
_SAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def load_dataset_json(root: Path) -> dict[str, Any]:
    """Reads and checks ``root/dataset.json`` (channel_names, labels, file_ending).

    Raises:
        DataError: missing file, invalid JSON, missing keys, region-based labels.
    """
    path = root / "dataset.json"
    if not path.is_file():
        raise DataError(path, "nnU-Net dataset.json not found")
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(path, f"invalid JSON: {exc}") from None
    for key in ("channel_names", "labels", "file_ending"):
        if key not in info:
            raise DataError(path, f"missing key {key!r} (nnU-Net v2 needs channel_names, labels, file_ending)")
    if any(not isinstance(v, int) for v in info["labels"].values()):
        raise DataError(path, "region-based labels (lists of label values) are not supported; use one value per class")
    return info


def class_names(info: dict[str, Any]) -> list[str]:
    """Class names ordered by label value (``dataset.json`` ``labels``)."""
    return [name for name, _ in sorted(info["labels"].items(), key=lambda item: item[1])]


def _read_natural(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataError(path, "file not found")
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        return np.asarray(tifffile.imread(path))
    from PIL import Image

    try:
        with Image.open(path) as image:
            array = np.asarray(image)
    except OSError as exc:
        raise DataError(path, f"cannot be decoded as an image ({exc})") from None
    if array.ndim == 3 and array.shape[2] == 4:
        array = array[:, :, :3]
    return array


def _channel_files(folder: Path, case: str, ending: str, n_channels: int) -> list[Path]:
    files = []
    for channel in range(n_channels):
        path = folder / f"{case}_{channel:04d}{ending}"
        if not path.is_file():
            if channel > 0 and ending in NATURAL_ENDINGS:
                break  # an RGB file holds several channels
            raise DataError(path, f"channel {channel} of case {case} not found")
        files.append(path)
    return files


def read_nnunet_dataset(
    root: str | Path,
    subset: str = "train",
    limit: int | None = None,
    empty_fraction: float = 1.0,
    stride: int = 1,
    label_map: dict[Any, Any] | None = None,
    orientation: Any = DISPLAY_AXCODES,
    seed: int = 0,
) -> list[Case]:
    """Reads an nnU-Net v2 raw dataset.

    Args:
        subset: ``"train"`` (imagesTr + labelsTr) or ``"test"`` (imagesTs, no masks).
        limit: read only the first ``limit`` cases.
        empty_fraction, stride, label_map, orientation, seed: slicing of NIfTI volumes, as for the ``nifti`` reader.

    Returns:
        Cases with ``(H, W)`` or ``(H, W, C)`` images and uint8 masks; ``meta`` with ``spacing_mm``,
        ``group`` (from medseg's entry in dataset.json, else the case), ``class_names``, ``nnunet_case``.

    Raises:
        DataError: missing dataset.json or files, label files of another size.
    """
    root = Path(root)
    if subset not in ("train", "test"):
        raise ValueError(f"subset must be 'train' or 'test', got {subset!r}")
    slicing = SliceOptions(empty_fraction, stride, seed, label_map)
    info = load_dataset_json(root)
    ending = str(info["file_ending"])
    n_channels = len(info["channel_names"])
    extra = info.get("medseg", {})
    groups, spacings = extra.get("groups", {}), extra.get("spacing_mm", {})
    names = class_names(info)
    image_dir = root / ("imagesTr" if subset == "train" else "imagesTs")
    if subset == "train":
        label_dir = root / "labelsTr"
        if not label_dir.is_dir():
            raise DataError(label_dir, "nnU-Net labelsTr folder not found")
        cases_ids = sorted(p.name[: -len(ending)] for p in label_dir.iterdir() if p.name.endswith(ending))
    else:
        if not image_dir.is_dir():
            raise DataError(image_dir, "nnU-Net imagesTs folder not found")
        suffix = f"_0000{ending}"
        cases_ids = sorted(p.name[: -len(suffix)] for p in image_dir.iterdir() if p.name.endswith(suffix))
    if not cases_ids:
        raise DataError(root, f"no {subset} cases with file ending {ending}")
    if limit is not None:
        cases_ids = cases_ids[:limit]
    cases: list[Case] = []
    for case_id in cases_ids:
        files = _channel_files(image_dir, case_id, ending, n_channels)
        label_path = root / "labelsTr" / f"{case_id}{ending}" if subset == "train" else None
        common = {"class_names": names, "nnunet_case": case_id}
        if ending in NIFTI_ENDINGS:
            volumes = [load_nifti(path, orientation) for path in files]
            array = volumes[0].array if len(volumes) == 1 else np.stack([v.array for v in volumes], axis=-1)
            volume = Volume(array, volumes[0].affine, files[0])
            labels = None if label_path is None else load_nifti(label_path, orientation, labels=True).array
            cases += slicing.cases(volume, labels, case_id, groups.get(case_id, case_id), common)
        elif ending in NATURAL_ENDINGS:
            planes = [_read_natural(path) for path in files]
            image = planes[0] if len(planes) == 1 else np.stack(planes, axis=-1)
            mask = None
            if label_path is not None:
                mask = slicing.labels(_read_natural(label_path).astype(np.uint8))
                if mask.shape != image.shape[:2]:
                    raise DataError(label_path, f"label size {mask.shape} differs from image size {image.shape[:2]}")
            spacing = tuple(spacings.get(case_id, (1.0, 1.0)))
            meta = {"spacing_mm": spacing, "group": groups.get(case_id, case_id), "reference": {}, **common}
            cases.append(Case(case_id, image, mask, meta, files[0]))
        else:
            raise DataError(root / "dataset.json", f"file_ending {ending!r} not supported (use .png or .nii.gz)")
    return cases


@READERS.register("nnunet")
def read_nnunet(root: Path, **options: Any) -> list[Case]:
    """Reads an nnU-Net v2 raw dataset; ``options`` as for :func:`read_nnunet_dataset`
    (``subset``, ``limit``, ``empty_fraction``, ``stride``, ``label_map``, ``orientation``, ``seed``)."""
    return read_nnunet_dataset(root, **options)
