"""Abdominal CT phantoms in Hounsfield units: body, spine, liver (label 1) and liver tumours (label 2).

Arrays are ``(Z, Y, X)`` axial slices in display order: rows run anterior -> posterior, columns
patient right -> left (so the liver lies on the image's left), slices inferior -> superior.
Writers produce the LiTS NIfTI layout, the MSD layout, a DICOM series and 3D-IRCADb patient zips.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

from medseg.data.volumes.base import LPS_TO_RAS
from medseg.data.volumes.nifti import save_nifti
from medseg.io import atomic_write_bytes, atomic_write_text

LIVER_HU, TUMOUR_HU, TISSUE_HU, FAT_HU, BONE_HU, AIR_HU = 60.0, 15.0, 40.0, -100.0, 700.0, -1000.0


def liver_phantom(
    rng: np.random.Generator, shape: tuple[int, int, int] = (16, 64, 64), n_tumours: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """One abdominal CT volume.

    Args:
        shape: ``(Z, Y, X)``.
        n_tumours: hypodense spherical tumours placed inside the liver.

    Returns:
        ``(Z, Y, X)`` int16 Hounsfield units and uint8 labels (0 background, 1 liver, 2 tumour).
    """
    depth, height, width = shape
    z, y, x = np.meshgrid(
        np.arange(depth, dtype=np.float32),
        np.arange(height, dtype=np.float32),
        np.arange(width, dtype=np.float32),
        indexing="ij",
    )
    cy, cx = height * 0.5, width * 0.5
    body = ((y - cy) / (0.36 * height)) ** 2 + ((x - cx) / (0.45 * width)) ** 2 <= 1
    inner = ((y - cy) / (0.33 * height)) ** 2 + ((x - cx) / (0.42 * width)) ** 2 <= 1
    hu = np.full(shape, AIR_HU, np.float32)
    hu[body] = FAT_HU
    hu[inner] = TISSUE_HU
    spine = (y - 0.74 * height) ** 2 + (x - cx) ** 2 <= (0.07 * min(height, width)) ** 2
    hu[spine & inner] = BONE_HU
    liver_centre = (depth * rng.uniform(0.45, 0.55), height * rng.uniform(0.38, 0.44), width * rng.uniform(0.3, 0.36))
    liver_axes = (depth * 0.42, height * 0.2, width * 0.17)
    liver = (
        ((z - liver_centre[0]) / liver_axes[0]) ** 2
        + ((y - liver_centre[1]) / liver_axes[1]) ** 2
        + ((x - liver_centre[2]) / liver_axes[2]) ** 2
    ) <= 1
    labels = np.zeros(shape, np.uint8)
    labels[liver] = 1
    hu[liver] = LIVER_HU
    for _ in range(n_tumours):
        radius = rng.uniform(0.18, 0.3) * min(liver_axes[1:])
        offset = [rng.uniform(-0.4, 0.4) * a for a in liver_axes]
        centre = [c + o for c, o in zip(liver_centre, offset, strict=True)]
        radius_z = max(1.0, radius * 0.5)  # slices are thicker than pixels
        tumour = ((z - centre[0]) / radius_z) ** 2 + ((y - centre[1]) / radius) ** 2 + (
            (x - centre[2]) / radius
        ) ** 2 <= 1
        tumour &= liver
        labels[tumour] = 2
        hu[tumour] = TUMOUR_HU
    hu += rng.normal(0, 8, size=shape).astype(np.float32) * (hu > AIR_HU + 1)
    return np.round(hu).astype(np.int16), labels


def sphere_phantom(
    shape: tuple[int, int, int] = (48, 96, 96),
    spacing_zyx: tuple[float, float, float] = (1.5, 0.8, 0.8),
    liver_radius_mm: float = 30.0,
    tumours: Sequence[tuple[tuple[float, float, float], float]] = (((0.0, 8.0, -8.0), 10.0), ((0.0, -12.0, 12.0), 6.0)),
) -> tuple[np.ndarray, np.ndarray]:
    """A noise-free CT volume with spheres of known radius: a spherical liver and spherical tumours in it.

    Sphere centres are in mm from the volume's centre ``(z, y, x)``; a voxel belongs to a sphere when its
    centre lies inside. Known truth: volumes ``4/3 pi r^3``, diameters ``2 r``.

    Args:
        shape: ``(Z, Y, X)``.
        spacing_zyx: voxel size in mm.
        liver_radius_mm: the liver sphere's radius (centred).
        tumours: ``((dz, dy, dx) mm from the centre, radius mm)`` per tumour (label 2, HU 15).

    Returns:
        ``(Z, Y, X)`` int16 HU (air, tissue 40, liver 60, tumours 15) and uint8 labels (0/1/2).
    """
    axes = [(np.arange(n, dtype=np.float32) - (n - 1) / 2) * float(s) for n, s in zip(shape, spacing_zyx, strict=True)]
    z, y, x = np.meshgrid(*axes, indexing="ij")
    hu = np.full(shape, TISSUE_HU, np.float32)
    labels = np.zeros(shape, np.uint8)
    liver = z**2 + y**2 + x**2 <= liver_radius_mm**2
    hu[liver], labels[liver] = LIVER_HU, 1
    for (dz, dy, dx), radius in tumours:
        tumour = (z - dz) ** 2 + (y - dy) ** 2 + (x - dx) ** 2 <= radius**2
        hu[tumour], labels[tumour] = TUMOUR_HU, 2
    return hu.astype(np.int16), labels


def display_affine(spacing_zyx: Sequence[float], shape: Sequence[int]) -> np.ndarray:
    """RAS affine of a display-order volume (axis codes L, P, S), centred on the origin in-plane."""
    sz, sy, sx = (float(v) for v in spacing_zyx)
    origin_lps = np.array([-(shape[2] - 1) * sx / 2, -(shape[1] - 1) * sy / 2, 0.0])
    lps = np.eye(4)
    lps[:3, :3] = np.diag([sx, sy, sz])
    lps[:3, 3] = origin_lps
    return LPS_TO_RAS @ lps


def _stored(array_zyx: np.ndarray, affine: np.ndarray, axcodes: str) -> tuple[np.ndarray, np.ndarray]:
    """Reorients a display-order (L, P, S) volume to be stored with ``axcodes`` (e.g. "RAS")."""
    data = array_zyx.transpose(2, 1, 0)
    transform = nib.orientations.ornt_transform(
        nib.orientations.axcodes2ornt(("L", "P", "S")), nib.orientations.axcodes2ornt(tuple(axcodes))
    )
    return nib.orientations.apply_orientation(data, transform), affine @ nib.orientations.inv_ornt_aff(
        transform, data.shape
    )


def write_lits_dataset(
    root: str | Path,
    n_volumes: int = 3,
    shape: tuple[int, int, int] = (16, 64, 64),
    spacing_zyx: tuple[float, float, float] = (2.5, 0.8, 0.8),
    orientations: Sequence[str] = ("LPS", "RAS"),
    seed: int = 0,
    compressed: bool = True,
) -> Path:
    """Writes ``volume-N.nii.gz`` (int16 HU) and ``segmentation-N.nii.gz`` (0/1/2) for N = 0..n-1.

    Volume N is stored with axis codes ``orientations[N % len(orientations)]`` (LiTS files come in
    several orientations), so readers must reorient them.

    Returns:
        ``root``.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    suffix = ".nii.gz" if compressed else ".nii"
    for index in range(n_volumes):
        hu, labels = liver_phantom(rng, shape, n_tumours=1 + index % 2)
        affine = display_affine(spacing_zyx, shape)
        codes = orientations[index % len(orientations)]
        data, stored_affine = _stored(hu, affine, codes)
        save_nifti(data, stored_affine, root / f"volume-{index}{suffix}", np.int16)
        seg, _ = _stored(labels, affine, codes)
        save_nifti(seg, stored_affine, root / f"segmentation-{index}{suffix}", np.uint8)
    return root


def write_msd_dataset(
    root: str | Path,
    n_train: int = 3,
    n_test: int = 1,
    shape: tuple[int, int, int] = (16, 64, 64),
    spacing_zyx: tuple[float, float, float] = (2.5, 0.8, 0.8),
    seed: int = 0,
) -> Path:
    """Writes a Medical Segmentation Decathlon task (``Task03_Liver`` style).

    ``dataset.json``, ``imagesTr/liver_N.nii.gz``, ``labelsTr/liver_N.nii.gz``, ``imagesTs/liver_N.nii.gz``
    (and a macOS ``._`` file, as in the published archives, that readers must skip).

    Returns:
        ``root``.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    training, test = [], []
    for index in range(n_train + n_test):
        hu, labels = liver_phantom(rng, shape)
        affine = display_affine(spacing_zyx, shape)
        name = f"liver_{index}.nii.gz"
        if index < n_train:
            save_nifti(hu.transpose(2, 1, 0), affine, root / "imagesTr" / name, np.int16)
            save_nifti(labels.transpose(2, 1, 0), affine, root / "labelsTr" / name, np.uint8)
            training.append({"image": f"./imagesTr/{name}", "label": f"./labelsTr/{name}"})
        else:
            save_nifti(hu.transpose(2, 1, 0), affine, root / "imagesTs" / name, np.int16)
            test.append(f"./imagesTs/{name}")
    atomic_write_bytes(root / "imagesTr" / "._liver_0.nii.gz", b"\x00\x05\x16\x07")
    dataset = {
        "name": "Liver",
        "description": "synthetic liver and tumour phantom",
        "tensorImageSize": "3D",
        "modality": {"0": "CT"},
        "labels": {"0": "background", "1": "liver", "2": "cancer"},
        "numTraining": n_train,
        "numTest": n_test,
        "training": training,
        "test": test,
    }
    atomic_write_text(root / "dataset.json", json.dumps(dataset, indent=1))
    return root


def dicom_slices(
    array_zyx: np.ndarray,
    spacing_zyx: Sequence[float],
    origin_lps: Sequence[float] = (0.0, 0.0, 0.0),
    rescale_intercept: float = -1024.0,
    modality: str = "CT",
    patient_name: str = "phantom^liver",
    series_uid: str | None = None,
) -> list[bytes]:
    """Encodes ``(Z, Y, X)`` values as single-frame DICOM files (bytes), slice ``k`` at ``origin + k * dz``.

    Values are stored as unsigned integers minus ``rescale_intercept`` (as CT scanners do), so a reader
    must apply RescaleSlope/RescaleIntercept to get them back; pass 0 for masks.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    series_uid = series_uid or generate_uid()
    study_uid = generate_uid()
    stored = np.round(array_zyx.astype(np.float64) - rescale_intercept)
    if stored.min() < 0 or stored.max() > 65535:
        raise ValueError("values minus rescale_intercept must fit in 0..65535")
    stored = stored.astype(np.uint16)
    files = []
    for k in range(array_zyx.shape[0]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.Modality = modality
        ds.PatientName = patient_name
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [
            float(origin_lps[0]),
            float(origin_lps[1]),
            float(origin_lps[2]) + k * float(spacing_zyx[0]),
        ]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.PixelSpacing = [float(spacing_zyx[1]), float(spacing_zyx[2])]
        ds.SliceThickness = float(spacing_zyx[0])
        ds.Rows, ds.Columns = int(array_zyx.shape[1]), int(array_zyx.shape[2])
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleIntercept = float(rescale_intercept)
        ds.RescaleSlope = 1.0
        ds.PixelData = stored[k].tobytes()
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        files.append(buffer.getvalue())
    return files


def write_dicom_series(
    folder: str | Path,
    array_zyx: np.ndarray,
    spacing_zyx: Sequence[float],
    origin_lps: Sequence[float] = (0.0, 0.0, 0.0),
    rescale_intercept: float = -1024.0,
    seed: int = 0,
) -> Path:
    """Writes a DICOM series as ``folder/slice_<random>.dcm``; file names do not follow the slice order.

    Returns:
        ``folder``.
    """
    folder = Path(folder)
    order = np.random.default_rng(seed).permutation(array_zyx.shape[0])
    for k, data in enumerate(dicom_slices(array_zyx, spacing_zyx, origin_lps, rescale_intercept)):
        atomic_write_bytes(folder / f"slice_{int(order[k]):04d}.dcm", data)
    return folder


IRCADB_TUMOUR_NAMES = (("livertumor01", "livertumor02"), ("tumor",), ("livertumors",))


def write_ircadb_patient(
    root: str | Path,
    number: int = 1,
    shape: tuple[int, int, int] = (16, 64, 64),
    spacing_zyx: tuple[float, float, float] = (1.6, 0.57, 0.57),
    seed: int = 0,
) -> tuple[Path, np.ndarray, np.ndarray]:
    """Writes ``root/3Dircadb1.<number>/`` with ``PATIENT_DICOM.zip`` and ``MASKS_DICOM.zip``.

    As in 3D-IRCADb-01: slices ``PATIENT_DICOM/image_<k>`` (no extension; names sort as text, not in
    slice order), mask series ``MASKS_DICOM/<structure>/image_<k>`` holding 0/255 for ``liver``, the
    tumours (named ``livertumor01``.., ``tumor`` or ``livertumors`` depending on ``number``) and
    distractors (``bone``, ``liverkyst``, ``leftsurrenaltumor``).

    Returns:
        The patient folder, and the ``(Z, Y, X)`` HU and labels (0/1/2) it encodes.
    """
    folder = Path(root) / f"3Dircadb1.{number}"
    rng = np.random.default_rng(seed)
    tumour_names = IRCADB_TUMOUR_NAMES[(number - 1) % len(IRCADB_TUMOUR_NAMES)]
    hu, labels = liver_phantom(rng, shape, n_tumours=len(tumour_names) + 1)
    origin = (-150.0, -180.0, -60.0)
    _write_zip(
        folder / "PATIENT_DICOM.zip",
        {f"PATIENT_DICOM/image_{k}": data for k, data in enumerate(dicom_slices(hu, spacing_zyx, origin))},
    )
    tumours = labels == 2
    structures = {
        "liver": labels > 0,
        "bone": hu > 300,
        "liverkyst": np.zeros_like(tumours),
        "leftsurrenaltumor": np.zeros_like(tumours),
    }
    # Split the tumour voxels among the named tumour folders (first folder gets the remainder).
    parts = np.array_split(np.argwhere(tumours), len(tumour_names))
    for name, part in zip(tumour_names, parts, strict=True):
        mask = np.zeros_like(tumours)
        mask[tuple(part.T)] = True
        structures[name] = mask
    structures["leftsurrenaltumor"][shape[0] // 2, 2:5, 2:5] = True
    masks = {}
    for name, mask in structures.items():
        for k, data in enumerate(dicom_slices(mask.astype(np.uint8) * 255, spacing_zyx, origin, rescale_intercept=0)):
            masks[f"MASKS_DICOM/{name}/image_{k}"] = data
    _write_zip(folder / "MASKS_DICOM.zip", masks)
    return folder, hu, labels


def _write_zip(path: Path, members: dict[str, bytes]) -> None:
    buffer = io.BytesIO()
    folders = sorted({name.rsplit("/", 1)[0] + "/" for name in members})
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for folder in folders:
            archive.writestr(folder, b"")
        for name in sorted(members):  # text order: image_10 before image_2, as in the real archives
            archive.writestr(name, members[name])
    atomic_write_bytes(path, buffer.getvalue())
