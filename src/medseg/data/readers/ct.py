"""Labelled abdominal CT in any of the layouts medseg reads, recognised from the files.

``ct`` picks the reader by what the folder holds, so one recipe trains on 3D-IRCADb, LiTS or MSD
without a conversion step:

- 3D-IRCADb: a patient folder with ``PATIENT_DICOM.zip`` / ``PATIENT_DICOM/``, or a folder of
  ``3Dircadb1.N`` patients -> :func:`medseg.data.readers.ircadb.read_ircadb`;
- MSD: ``dataset.json`` or ``imagesTr/`` -> :func:`medseg.data.readers.nifti.read_msd`;
- LiTS: ``volume-N.nii[.gz]`` with ``segmentation-N.nii[.gz]`` -> :func:`medseg.data.readers.nifti.read_lits`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medseg.data.case import Case
from medseg.data.readers.ircadb import patient_folders, read_ircadb
from medseg.data.readers.nifti import read_lits, read_msd
from medseg.data.readers.registry import READERS
from medseg.errors import DataError


def detect_ct_layout(root: str | Path) -> str:
    """``"ircadb"``, ``"msd"`` or ``"nifti"`` (LiTS) for a dataset folder.

    Raises:
        DataError: not a folder, or none of the layouts.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "CT dataset folder not found")
    try:
        patient_folders(root)
        return "ircadb"
    except DataError:
        pass
    if (root / "dataset.json").is_file() or (root / "imagesTr").is_dir():
        return "msd"
    if any(root.rglob("volume-*.nii*")):
        return "nifti"
    raise DataError(
        root,
        "not a CT dataset medseg knows: expected 3D-IRCADb patients (PATIENT_DICOM.zip), an MSD task "
        "(dataset.json or imagesTr/) or LiTS volumes (volume-N.nii.gz)",
    )


@READERS.register("ct")
def read_ct(root: Path, **kwargs: Any) -> list[Case]:
    """Reads labelled CT slices with the reader of the detected layout (see the module docstring).

    Args:
        root: dataset folder.
        kwargs: passed to that reader (``empty_fraction``, ``stride``, ``limit``, ``label_map``, ``seed``, ...).

    Returns:
        Axial slice cases with LiTS labels (0 background, 1 liver, 2 tumour), grouped by volume.
    """
    reader = {"ircadb": read_ircadb, "msd": read_msd, "nifti": read_lits}[detect_ct_layout(root)]
    return reader(Path(root), **kwargs)
