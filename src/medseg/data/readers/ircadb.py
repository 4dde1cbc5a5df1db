"""3D-IRCADb-01 liver CT (IRCAD, Strasbourg): DICOM series in zips, one mask series per structure.

```
root/3Dircadb1.N/PATIENT_DICOM.zip   PATIENT_DICOM/image_K      CT slices (int16, HU after rescale)
root/3Dircadb1.N/MASKS_DICOM.zip     MASKS_DICOM/<structure>/image_K   0/255 masks
```
(``PATIENT_DICOM/`` and ``MASKS_DICOM/`` folders, extracted, work too; ``root`` may be one patient
folder.) Structures: ``liver`` -> label 1; liver tumours -> label 2, matched by name because patients
name them differently (``livertumor01``.., ``tumor``, ``livertumors``); other organs are ignored. Labels
follow LiTS (0 background, 1 liver, 2 tumour), and :func:`convert_ircadb` writes the LiTS NIfTI layout.
The zips are read in memory, never extracted.
"""

from __future__ import annotations

import re
import zipfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from medseg.data.case import Case
from medseg.data.checks import case_guard, check_spacing
from medseg.data.readers.dicom import mask_series_labels
from medseg.data.readers.registry import READERS
from medseg.data.slice_options import SliceOptions
from medseg.data.volumes.base import Volume
from medseg.data.volumes.dicom import DicomFile, dicom_files_in_folder, dicom_files_in_zip, read_dicom_series
from medseg.data.volumes.nifti import save_nifti
from medseg.errors import DataError

_PATIENT = re.compile(r"^3Dircadb\d*\.(\d+)$", re.IGNORECASE)
_LIVER_TUMOUR = re.compile(r"^(liver)?tumou?rs?\d*$")


def is_liver_tumour(structure: str) -> bool:
    """True for the names 3D-IRCADb gives liver tumours (``livertumor01``, ``tumor``, ``livertumors``..)."""
    return bool(_LIVER_TUMOUR.match(re.sub(r"[\s_\-]", "", structure.lower())))


def is_liver(structure: str) -> bool:
    return structure.strip().lower() == "liver"


def patient_folders(root: Path) -> list[Path]:
    """``root`` itself when it is a patient folder, else its ``3Dircadb1.N`` sub-folders in number order."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "3D-IRCADb folder not found")
    if _has_series(root, "PATIENT_DICOM"):
        return [root]
    folders = [d for d in root.iterdir() if d.is_dir() and _has_series(d, "PATIENT_DICOM")]
    if not folders:
        raise DataError(root, "no 3D-IRCADb patient (a folder with PATIENT_DICOM.zip or PATIENT_DICOM/)")
    return sorted(folders, key=lambda d: (patient_number(d) is None, patient_number(d) or 0, d.name))


def patient_number(folder: Path) -> int | None:
    match = _PATIENT.match(Path(folder).name)
    return int(match.group(1)) if match else None


def _has_series(folder: Path, name: str) -> bool:
    return (folder / f"{name}.zip").is_file() or (folder / name).is_dir()


def _structure_files(folder: Path, stack: ExitStack) -> tuple[list[DicomFile], dict[str, list[DicomFile]]]:
    """Image series files and ``{structure: mask series files}`` of a patient folder (zip or extracted)."""
    if (folder / "PATIENT_DICOM.zip").is_file():
        archive = stack.enter_context(_open_zip(folder / "PATIENT_DICOM.zip"))
        image_files = dicom_files_in_zip(archive, "")
    else:
        image_files = dicom_files_in_folder(folder / "PATIENT_DICOM")
    structures: dict[str, list[DicomFile]] = {}
    if (folder / "MASKS_DICOM.zip").is_file():
        archive = stack.enter_context(_open_zip(folder / "MASKS_DICOM.zip"))
        names = {n.split("/")[1] for n in archive.namelist() if n.count("/") >= 2 and n.split("/")[1]}
        for name in sorted(names):
            prefix = next(n for n in archive.namelist() if n.count("/") >= 2 and n.split("/")[1] == name)
            structures[name] = dicom_files_in_zip(archive, prefix.rsplit("/", 1)[0] + "/")
    elif (folder / "MASKS_DICOM").is_dir():
        for sub in sorted(p for p in (folder / "MASKS_DICOM").iterdir() if p.is_dir()):
            structures[sub.name] = dicom_files_in_folder(sub)
    return image_files, structures


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise DataError(path, "not a valid zip archive") from None


def read_ircadb_patient(folder: str | Path) -> tuple[Volume, np.ndarray, dict[str, str]]:
    """Reads one patient: the CT volume and LiTS-style labels.

    Returns:
        The :class:`Volume` (``(Z, Y, X)`` HU, LPS->RAS affine), ``(Z, Y, X)`` uint8 labels
        (0 background, 1 liver, 2 tumour) and ``{structure: "liver" | "tumour"}`` for the series used.

    Raises:
        DataError: no image series, no ``liver`` mask, masks that do not match the slices.
    """
    folder = Path(folder)
    with ExitStack() as stack:
        image_files, structures = _structure_files(folder, stack)
        volume = read_dicom_series(image_files, folder / "PATIENT_DICOM")
        liver_names = [n for n in structures if is_liver(n)]
        if not liver_names:
            found = ", ".join(structures) or "none"
            raise DataError(folder / "MASKS_DICOM", f"no 'liver' mask series (structures found: {found})")
        tumour_names = [n for n in structures if is_liver_tumour(n)]
        labels = np.zeros(volume.array.shape, np.uint8)
        used = {}
        for name, value in [(n, 1) for n in liver_names] + [(n, 2) for n in tumour_names]:
            where = folder / "MASKS_DICOM" / name
            mask = read_dicom_series(structures[name], where, rescale=False)
            labels[mask_series_labels(mask, volume, where, "binary") > 0] = value
            used[name] = "liver" if value == 1 else "tumour"
    return volume, labels, used


@READERS.register("ircadb")
def read_ircadb(
    root: Path,
    empty_fraction: float = 1.0,
    stride: int = 1,
    limit: int | None = None,
    label_map: dict[Any, Any] | None = None,
    seed: int = 0,
    roi_margin_mm: float | None = None,
    context_slices: int = 0,
) -> list[Case]:
    """Reads 3D-IRCADb patients as axial slice cases with LiTS labels (1 liver, 2 tumour).

    Args:
        limit: read only the first ``limit`` patients.
        empty_fraction, stride, label_map, seed, roi_margin_mm, context_slices: as for the ``nifti`` reader.

    Returns:
        Cases ``3Dircadb1.N_zKKK``: int16 HU images, uint8 masks, ``meta`` with ``spacing_mm``,
        ``group`` = the patient folder, ``affine``, ``structures`` (the mask series used).
    """
    slicing = SliceOptions(empty_fraction, stride, seed, label_map, roi_margin_mm, context_slices)
    folders = patient_folders(Path(root))
    if limit is not None:
        folders = folders[:limit]
    cases: list[Case] = []
    for folder in folders:
        with case_guard():
            volume, labels, used = read_ircadb_patient(folder)
            check_spacing(volume.spacing_zyx, folder)
            cases += slicing.cases(volume, labels, folder.name, folder.name, {"structures": used})
    return cases


def convert_ircadb(src: str | Path, out: str | Path) -> list[tuple[Path, Path]]:
    """Converts 3D-IRCADb patients to LiTS NIfTI: ``out/volume-N.nii.gz`` (int16 HU) and
    ``out/segmentation-N.nii.gz`` (uint8: 1 liver, 2 tumour), N the patient number.

    The affine is the series' own geometry (DICOM LPS converted to RAS), so nibabel and viewers show
    the volume in its true orientation (axis codes L, P, S for axial series).

    Returns:
        ``(volume path, segmentation path)`` per patient.
    """
    out = Path(out)
    written = []
    for index, folder in enumerate(patient_folders(Path(src)), start=1):
        number = patient_number(folder) or index
        volume, labels, _ = read_ircadb_patient(folder)
        image_path = save_nifti(volume.to_xyz(), volume.affine, out / f"volume-{number}.nii.gz")
        label_path = save_nifti(labels.transpose(2, 1, 0), volume.affine, out / f"segmentation-{number}.nii.gz")
        written.append((image_path, label_path))
    return written
