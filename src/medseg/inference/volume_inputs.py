"""The volumes of a ``medseg predict`` input: NIfTI files, DICOM series (folders or zips), 3D-IRCADb
patients; how they are named, and whether an input holds volumes or 2D images."""

from __future__ import annotations

import zipfile
from pathlib import Path

from medseg.data.readers.ircadb import patient_folders
from medseg.data.volumes.nifti import is_nifti, nifti_stem
from medseg.errors import DataError

GENERIC_SERIES_NAMES = ("PATIENT_DICOM", "DICOM", "SERIES", "IMAGES", "IMAGE")


def _dicom_name(path: Path) -> str:
    stem = path.stem if path.suffix.lower() == ".zip" else path.name
    if stem.upper() in GENERIC_SERIES_NAMES and path.parent.name:
        return path.parent.name
    return stem


def _is_ircadb(folder: Path) -> bool:
    if (folder / "PATIENT_DICOM.zip").is_file() or (folder / "PATIENT_DICOM").is_dir():
        return True
    return any(
        (d / "PATIENT_DICOM.zip").is_file() or (d / "PATIENT_DICOM").is_dir() for d in folder.iterdir() if d.is_dir()
    )


def volume_inputs(path: str | Path) -> list[tuple[str, Path]]:
    """The volumes of an input, as ``(name, NIfTI file or DICOM series folder/zip)``.

    Raises:
        DataError: a missing path, or one that is none of the inputs listed in the module docstring.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(path, "input not found")
    if path.is_file():
        if is_nifti(path):
            return [(nifti_stem(path), path)]
        if zipfile.is_zipfile(path):
            return [(_dicom_name(path), path)]
        raise DataError(path, "not a volume: expected a NIfTI file (.nii, .nii.gz) or a zip of a DICOM series")
    if _is_ircadb(path):
        items = []
        for folder in patient_folders(path):
            series = folder / "PATIENT_DICOM.zip"
            items.append((folder.name, series if series.is_file() else folder / "PATIENT_DICOM"))
        return items
    niftis = sorted(
        p
        for p in path.iterdir()
        if p.is_file() and is_nifti(p) and not p.name.startswith(".") and not p.name.startswith("segmentation")
    )
    if niftis:
        return [(nifti_stem(p), p) for p in niftis]
    return [(_dicom_name(path), path)]


def is_volume_input(path: str | Path) -> bool:
    """True for a NIfTI file, a zip, a folder holding NIfTI files, a 3D-IRCADb folder, or a folder without
    2D images (a DICOM series); False for a folder of 2D images (or an HC18 root with ``test_set/``),
    of NumPy crops or of planar DICOM images such as bone scans."""
    from medseg.data.inputs import check_unread_formats, holds_planar_inputs
    from medseg.data.io import IMAGE_SUFFIXES

    path = Path(path)
    if path.is_file():
        return is_nifti(path) or path.suffix.lower() == ".zip"
    if not path.is_dir() or (path / "test_set").is_dir():
        return False
    check_unread_formats(path)
    if _is_ircadb(path):
        return True
    files = [p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")]
    if any(is_nifti(p) for p in files):
        return True
    return not any(p.suffix.lower() in IMAGE_SUFFIXES for p in files) and not holds_planar_inputs(files)


def unique_names(items: list[tuple[str, Path]]) -> list[tuple[str, Path]]:
    """``(name, source)`` pairs with repeated names numbered (``name_<position>``)."""
    names = [name for name, _ in items]
    return [(f"{name}_{k}" if names.count(name) > 1 else name, source) for k, (name, source) in enumerate(items, 1)]


def check_dicom_inputs(items: list[tuple[str, Path]]) -> None:
    """Refuses a NIfTI among the inputs of a DICOM SEG prediction.

    Raises:
        DataError: names the NIfTI file.
    """
    for _, source in items:
        if is_nifti(source):
            raise DataError(source, "--format dicom-seg needs DICOM input (a series folder or zip, an IRCADb patient)")
