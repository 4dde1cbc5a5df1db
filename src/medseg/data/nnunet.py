"""nnU-Net v2 raw datasets: import into medseg cases and export medseg cases, so data moves both ways.

Layout (Isensee et al. 2021, nnU-Net v2 ``nnUNet_raw``)::

    DatasetXXX_Name/dataset.json        {"channel_names": {"0": "CT"}, "labels": {"background": 0, ..},
                                         "numTraining": N, "file_ending": ".nii.gz" | ".png" | ..}
    DatasetXXX_Name/imagesTr/<case>_0000<ending>   one file per channel (_0000, _0001, ..)
    DatasetXXX_Name/labelsTr/<case><ending>        integer labels
    DatasetXXX_Name/imagesTs/<case>_0000<ending>   unlabelled

2D natural images (``.png`` ..) are one case each; an RGB image is one ``_0000`` file with three
``channel_names`` (R, G, B), as nnU-Net's natural-image reader expects. NIfTI files are volumes,
sliced into axial cases like the ``nifti`` reader (a one-slice NIfTI is one 2D case). medseg adds a
``"medseg"`` entry to ``dataset.json`` (groups and pixel spacing) that nnU-Net ignores and the import
uses, so a round trip keeps patient groups and spacing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from medseg.data.case import Case
from medseg.data.io import write_png
from medseg.data.slice_options import SliceOptions
from medseg.data.volumes.base import DISPLAY_AXCODES, LPS_TO_RAS, Volume
from medseg.data.volumes.nifti import load_nifti, save_nifti
from medseg.errors import DataError
from medseg.io import atomic_write_text

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


def _safe_id(case_id: str) -> str:
    return _SAFE.sub("_", case_id)


def _slice_affine(case: Case) -> np.ndarray:
    """Affine of a one-slice NIfTI holding ``case.image`` (rows y, cols x): the slice's place in its volume,
    or a plain in-plane spacing (display orientation) for 2D images."""
    if "affine" in case.meta and "slice_index" in case.meta:
        shift = np.eye(4)
        shift[2, 3] = float(case.meta["slice_index"])
        return np.asarray(case.meta["affine"], dtype=np.float64) @ shift
    row, col = case.spacing_mm
    return LPS_TO_RAS @ np.diag([col, row, 1.0, 1.0])


def export_nnunet(
    cases: list[Case],
    out_dir: str | Path,
    labels: dict[str, int] | list[str] | None = None,
    channel_names: dict[str, str] | list[str] | None = None,
    file_ending: str = "auto",
    name: str | None = None,
    description: str = "exported by medseg",
) -> Path:
    """Writes cases as an nnU-Net v2 raw dataset (cases without mask go to ``imagesTs``).

    Args:
        cases: 2D cases; ``(H, W)`` or ``(H, W, C)`` images, uint8 label masks.
        out_dir: the dataset folder, e.g. ``nnUNet_raw/Dataset501_Kvasir`` (created; existing case
            files are replaced).
        labels: ``{"background": 0, "polyp": 1}`` or class names in label order; None: the cases'
            ``meta["class_names"]``, else ``background, label1, ..`` up to the largest mask label.
        channel_names: per input channel (default ``R, G, B`` for RGB, ``image`` for grey).
        file_ending: ``".png"``, ``".nii.gz"`` or ``"auto"`` (PNG when every image is uint8/uint16,
            else one-slice NIfTI keeping the spacing and, for volume slices, their position).

    Returns:
        ``out_dir``.

    Raises:
        ValueError: no cases, mixed channel counts, images PNG cannot hold, masks outside ``labels``.
    """
    out_dir = Path(out_dir)
    if not cases:
        raise ValueError("no cases to export")
    if labels is None:
        labels = cases[0].meta.get("class_names")
        if labels is None:
            top = (
                max(int(c.mask.max()) for c in cases if c.mask is not None)
                if any(c.mask is not None for c in cases)
                else 1
            )
            labels = ["background"] + [f"label{i}" for i in range(1, max(top, 1) + 1)]
    label_values = {n: i for i, n in enumerate(labels)} if isinstance(labels, list) else dict(labels)
    if "background" not in label_values or label_values["background"] != 0:
        raise ValueError("labels must map 'background' to 0 (nnU-Net requires it)")
    n_channels = {1 if c.image.ndim == 2 else c.image.shape[2] for c in cases}
    if len(n_channels) != 1:
        raise ValueError(f"cases have different channel counts {sorted(n_channels)}; export them separately")
    channels = n_channels.pop()
    if file_ending == "auto":
        pngable = all(c.image.dtype in (np.uint8, np.uint16) for c in cases)
        file_ending = ".png" if pngable else ".nii.gz"
    if file_ending not in (".png", ".nii.gz"):
        raise ValueError(f"file_ending must be .png, .nii.gz or auto, got {file_ending!r}")
    if file_ending == ".png" and any(c.image.dtype not in (np.uint8, np.uint16) for c in cases):
        raise ValueError("PNG holds uint8/uint16 images only; use file_ending='.nii.gz' for CT values")
    rgb_file = file_ending == ".png" and channels == 3
    if channel_names is None:
        channel_names = (
            ["R", "G", "B"] if channels == 3 else ["image"] if channels == 1 else [f"c{i}" for i in range(channels)]
        )
    names = dict(channel_names) if isinstance(channel_names, dict) else {str(i): n for i, n in enumerate(channel_names)}
    if len(names) != channels:
        raise ValueError(f"{len(names)} channel_names for {channels}-channel images")
    max_label = max(label_values.values())
    groups, spacings, n_train, seen = {}, {}, 0, set()
    for case in cases:
        case_id = _safe_id(case.id)
        if case_id in seen:
            raise ValueError(f"two cases map to the nnU-Net identifier {case_id!r}")
        seen.add(case_id)
        folder = out_dir / ("imagesTr" if case.mask is not None else "imagesTs")
        planes = [case.image] if (case.image.ndim == 2 or rgb_file) else [case.image[:, :, c] for c in range(channels)]
        for index, plane in enumerate(planes):
            path = folder / f"{case_id}_{index:04d}{file_ending}"
            if file_ending == ".png":
                write_png(path, np.ascontiguousarray(plane))
            else:
                save_nifti(
                    plane.T[:, :, None], _slice_affine(case), path, np.float32 if plane.dtype.kind == "f" else None
                )
        if case.mask is not None:
            if case.mask.max() > max_label:
                raise ValueError(f"case {case.id}: mask label {int(case.mask.max())} not in labels {label_values}")
            n_train += 1
            path = out_dir / "labelsTr" / f"{case_id}{file_ending}"
            if file_ending == ".png":
                write_png(path, case.mask.astype(np.uint8))
            else:
                save_nifti(case.mask.T[:, :, None], _slice_affine(case), path, np.uint8)
        groups[case_id] = case.group
        spacings[case_id] = list(case.spacing_mm)
    dataset = {
        "channel_names": names,
        "labels": label_values,
        "numTraining": n_train,
        "file_ending": file_ending,
        "name": name or out_dir.name,
        "description": description,
        "medseg": {"groups": groups, "spacing_mm": spacings},
    }
    atomic_write_text(out_dir / "dataset.json", json.dumps(dataset, indent=1))
    return out_dir
