"""``medseg convert nnunet``: medseg cases as an nnU-Net v2 raw dataset (the reader is
:mod:`medseg.data.readers.nnunet`).

Layout (Isensee et al. 2021, nnU-Net v2 ``nnUNet_raw``)::

    DatasetXXX_Name/dataset.json        {"channel_names": {"0": "CT"}, "labels": {"background": 0, ..},
                                         "numTraining": N, "file_ending": ".nii.gz" | ".png" | ..}
    DatasetXXX_Name/imagesTr/<case>_0000<ending>   one file per channel (_0000, _0001, ..)
    DatasetXXX_Name/labelsTr/<case><ending>        integer labels
    DatasetXXX_Name/imagesTs/<case>_0000<ending>   unlabelled

RGB images are one ``_0000`` PNG with three ``channel_names``; CT values go to one-slice NIfTI
keeping the spacing and the slice's position. A ``"medseg"`` entry in ``dataset.json`` (groups and
pixel spacing), which nnU-Net ignores, lets the import restore patient groups and spacing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from medseg.data.case import Case
from medseg.data.converters.registry import CONVERTERS, Converter
from medseg.data.io import write_png
from medseg.data.volumes.base import LPS_TO_RAS
from medseg.data.volumes.nifti import save_nifti
from medseg.errors import DataError
from medseg.io import atomic_write_text

_SAFE = re.compile(r"[^A-Za-z0-9_.\-]")


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


def _convert(src: Path, work: Path, cases: list[Case] | None, labels: list[str] | None) -> list[Path]:
    try:
        return [export_nnunet(cases or [], work, labels) / "dataset.json"]
    except ValueError as exc:
        raise DataError(src, str(exc)) from None


CONVERTERS.register("nnunet")(
    Converter(_convert, "any dataset medseg reads (--layout) -> an nnU-Net v2 raw dataset", reads_layout=True)
)
