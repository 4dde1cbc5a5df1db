"""Recognising a dataset's layout from the files its publisher ships (``medseg check`` without ``--layout``)."""

from __future__ import annotations

import json
from pathlib import Path

from medseg.errors import DataError


def _nnunet_or_msd(root: Path) -> str | None:
    dataset_json = root / "dataset.json"
    if not dataset_json.is_file():
        return "msd" if (root / "imagesTr").is_dir() else None
    try:
        meta = json.loads(dataset_json.read_text())
    except (OSError, ValueError):
        meta = {}
    # nnU-Net v2 names channels and the file ending; the Medical Segmentation Decathlon lists "training"
    return "nnunet" if isinstance(meta, dict) and ("channel_names" in meta or "file_ending" in meta) else "msd"


def detect_layout(root: str | Path) -> str:
    """The reader name for a dataset folder in its publisher's layout.

    hc18 (``training_set/`` with ``*_HC_Annotation.png``), kvasir (``kavsir_bboxes.json`` or
    ``images/`` with Kvasir's hashed JPEG names), cvc_clinicdb (``Original/`` + ``Ground Truth/``,
    or ``images/`` + ``masks/`` with a ``README.txt``), bone_scan (``images/`` + ``labels/``),
    lidc (``Image/`` + ``Mask/``), nnunet / msd (``dataset.json``), the CT layouts (3D-IRCADb,
    LiTS), and folder (``images/`` + ``masks/``).

    Raises:
        DataError: not a folder, or no layout matches.
    """
    from medseg.data.readers.ct import detect_ct_layout

    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "dataset folder not found")
    if (root / "training_set").is_dir() or any(root.glob("*_HC_Annotation.png")):
        return "hc18"
    if (root / "Image").is_dir() and (root / "Mask").is_dir():
        return "lidc"
    if (root / "Original").is_dir() and (root / "Ground Truth").is_dir():
        return "cvc_clinicdb"
    tabular = _nnunet_or_msd(root)
    if tabular:
        return tabular
    if (root / "images").is_dir() and (root / "labels").is_dir():
        return "bone_scan"
    if (root / "images").is_dir() and (root / "masks").is_dir():
        if (root / "kavsir_bboxes.json").is_file():
            return "kvasir"
        if (root / "README.txt").is_file():
            return "cvc_clinicdb"
        return "folder"
    try:
        return detect_ct_layout(root)
    except DataError:
        pass
    raise DataError(
        root,
        "layout not recognised: give --layout (hc18, kvasir, cvc_clinicdb, folder, lidc, bone_scan, nnunet, "
        "msd, nifti, ircadb, dicom)",
    )
