"""Lung nodule CT crops: the pylidc export of LIDC-IDRI (Armato et al. 2011), or any labelled volumes.

pylidc export layout::

    root/Image/LIDC-IDRI-NNNN/NNNN_NIxxx_sliceyyy.npy   axial slice through nodule xxx (float16)
    root/Mask/LIDC-IDRI-NNNN/NNNN_MAxxx_sliceyyy.npy    its consensus mask (bool)
    root/Meta/meta_info.csv                             the export's index (not used: partly malformed)

Intensities are the export's rescaled values (about -0.2..3.1), read as float32. The export keeps no
pixel spacing; pass ``pixel_size_mm`` when it is known. Each nodule (a connected component of the
mask) gives one fixed-size crop centred on it, as in the lung study (64x64); ``group`` is the patient.
With ``source="nifti"|"msd"`` the crops are cut from labelled volumes read by those readers instead.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from medseg.data.case import TRAINING_ONLY, Case
from medseg.data.checks import case_guard
from medseg.data.readers.registry import READERS
from medseg.errors import DataError

_SLICE = re.compile(r"^(\d+)_NI(\d+)_slice(\d+)\.npy$")


def _size(crop_size: int | list[int] | tuple[int, int]) -> tuple[int, int]:
    size = (int(crop_size), int(crop_size)) if np.isscalar(crop_size) else tuple(int(v) for v in crop_size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"crop_size must be a positive int or [height, width], got {crop_size!r}")
    return size  # type: ignore[return-value]


def nodule_crops(
    image: np.ndarray, mask: np.ndarray, crop_size: int | list[int] = 64, min_pixels: int = 1
) -> list[tuple[np.ndarray, np.ndarray, tuple[int, int]]]:
    """Fixed-size crops centred on each connected component of ``mask``.

    Args:
        image: ``(H, W)`` slice.
        mask: ``(H, W)`` labels; every non-zero pixel belongs to a nodule.
        crop_size: crop ``(h, w)`` (or one int); crops reaching past the border are padded with the
            image's minimum (air), the mask with 0.
        min_pixels: ignore components smaller than this.

    Returns:
        ``(crop image, crop mask, (top, left))`` per component, ``top``/``left`` in slice pixels (may be
        negative at the border); the crop mask holds every mask pixel inside the crop.
    """
    height, width = _size(crop_size)
    components, count = ndimage.label(mask > 0)
    if count == 0:
        return []
    sizes = ndimage.sum_labels(np.ones_like(components), components, index=range(1, count + 1))
    centres = ndimage.center_of_mass(mask > 0, components, range(1, count + 1))
    pad = max(height, width)
    padded_image = np.pad(image, pad, mode="constant", constant_values=float(image.min()))
    padded_mask = np.pad(mask, pad, mode="constant")
    crops = []
    for size, (cy, cx) in zip(sizes, centres, strict=True):
        if size < min_pixels:
            continue
        top, left = int(round(cy - height / 2)), int(round(cx - width / 2))
        rows, cols = slice(top + pad, top + pad + height), slice(left + pad, left + pad + width)
        crops.append((padded_image[rows, cols].copy(), padded_mask[rows, cols].astype(np.uint8), (top, left)))
    return crops


def background_crops(
    image: np.ndarray, mask: np.ndarray, crop_size: int | list[int], count: int, seed: int
) -> list[tuple[np.ndarray, tuple[int, int]]]:
    """Up to ``count`` crops of the slice that hold no nodule pixel, at seeded random places.

    Crops lie inside the slice and inside the body (their mean is above the slice's darkest tenth:
    not the air around the patient), where a network trained on nodule-centred crops alone finds
    false nodules in vessels, airway walls and the chest wall.

    Returns:
        ``(crop image, (top, left))`` per crop.
    """
    height, width = _size(crop_size)
    if count <= 0 or image.shape[0] <= height or image.shape[1] <= width:
        return []
    rng = np.random.default_rng(seed)
    air = float(np.quantile(image, 0.1))
    crops: list[tuple[np.ndarray, tuple[int, int]]] = []
    for _ in range(50 * count):
        if len(crops) == count:
            break
        top, left = int(rng.integers(0, image.shape[0] - height)), int(rng.integers(0, image.shape[1] - width))
        window = (slice(top, top + height), slice(left, left + width))
        crop = image[window]
        if mask[window].any() or float(crop.mean()) <= air + 0.25 * (float(image.mean()) - air):
            continue
        crops.append((crop.copy(), (top, left)))
    return crops


def crop_cases(
    cases: list[Case], crop_size: int | list[int] = 64, min_pixels: int = 1, background: int = 0, seed: int = 0
) -> list[Case]:
    """Replaces labelled slice cases by nodule-centred crops (see :func:`nodule_crops`).

    Cases without foreground give no crop. Ids get ``_n<k>`` when a slice holds several nodules;
    ``meta`` keeps the slice's and adds ``crop_origin`` ``(top, left)`` and ``slice_id``. With
    ``background`` > 0 every slice also gives that many nodule-free crops (:func:`background_crops`,
    ids ``<slice>_bg<k>``, empty masks), marked training-only (:attr:`medseg.data.case.Case.training_only`):
    they teach the network what is not a nodule and are never validated or tested on.
    """
    out = []
    for index, case in enumerate(cases):
        if case.mask is None:
            raise DataError(case.source or case.id, "nodule crops need masks")
        crops = nodule_crops(case.image, case.mask, crop_size, min_pixels)
        for k, (image, mask, origin) in enumerate(crops):
            case_id = case.id if len(crops) == 1 else f"{case.id}_n{k}"
            meta = {**case.meta, "crop_origin": origin, "slice_id": case.id}
            out.append(Case(case_id, image, mask, meta, case.source))
        free = background_crops(case.image, case.mask, crop_size, background, seed + index)
        for k, (image, origin) in enumerate(free):
            meta = {**case.meta, "crop_origin": origin, "slice_id": case.id, TRAINING_ONLY: True}
            out.append(Case(f"{case.id}_bg{k}", image, np.zeros(image.shape, np.uint8), meta, case.source))
    return out


def _read_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(path, f"cannot be read as a NumPy array ({exc})") from None


def read_pylidc_slices(
    root: Path, patients: list[str] | None = None, limit: int | None = None, pixel_size_mm: float | None = None
) -> list[Case]:
    """Whole slices of the pylidc export: ``(512, 512)`` float32 images, uint8 0/1 masks.

    Returns:
        Cases ``NNNN_NIxxx_sliceyyy`` with ``meta = {spacing_mm, spacing_known, group: LIDC-IDRI-NNNN,
        patient, nodule, slice_index}``; without ``pixel_size_mm`` the spacing is 1.0 and
        ``spacing_mm`` is None and ``spacing_known`` is False (sizes and distances are then in pixels).
    """
    image_root, mask_root = root / "Image", root / "Mask"
    if not image_root.is_dir() or not mask_root.is_dir():
        raise DataError(root, "pylidc export layout not found (expected Image/ and Mask/ folders)")
    folders = sorted(d for d in image_root.iterdir() if d.is_dir())
    if patients is not None:
        wanted = {str(p) for p in patients}
        folders = [d for d in folders if d.name in wanted or d.name.split("-")[-1] in wanted]
    if limit is not None:
        folders = folders[:limit]
    if not folders:
        raise DataError(image_root, "no patient folders (LIDC-IDRI-NNNN)")
    cases, slices = [], 0
    for folder in folders:
        for path in sorted(folder.glob("*.npy")):
            match = _SLICE.match(path.name)
            if match is None:
                continue
            slices += 1
            with case_guard():
                patient, nodule, index = match.groups()
                mask_path = mask_root / folder.name / f"{patient}_MA{nodule}_slice{index}.npy"
                if not mask_path.is_file():
                    raise DataError(path, f"no mask {mask_path.name} in {mask_path.parent}")
                image = _read_npy(path).astype(np.float32)
                mask = (_read_npy(mask_path) > 0).astype(np.uint8)
                if image.shape != mask.shape or image.ndim != 2:
                    raise DataError(mask_path, f"mask shape {mask.shape} differs from slice shape {image.shape}")
                meta = {
                    "spacing_mm": None if pixel_size_mm is None else (pixel_size_mm, pixel_size_mm),
                    "spacing_known": pixel_size_mm is not None,
                    "group": folder.name,
                    "patient": folder.name,
                    "nodule": f"NI{nodule}",
                    "slice_index": int(index),
                    "reference": {},
                }
                cases.append(Case(path.stem, image, mask, meta, path))
    if not slices:
        raise DataError(image_root, "no slices named NNNN_NIxxx_sliceyyy.npy")
    return cases


@READERS.register("lidc")
def read_lidc(
    root: Path,
    crop_size: int | list[int] | None = 64,
    source: str = "auto",
    patients: list[str] | None = None,
    limit: int | None = None,
    pixel_size_mm: float | None = None,
    min_pixels: int = 1,
    volume_options: dict[str, Any] | None = None,
    background_crops: int = 0,
    background_seed: int = 0,
) -> list[Case]:
    """Reads lung nodule crops.

    Args:
        crop_size: crop size (int or ``[h, w]``); None keeps whole slices.
        source: ``"pylidc"`` (layout above), ``"nifti"`` or ``"msd"`` (labelled volumes, e.g. MSD Task06_Lung),
            or ``"auto"`` (pylidc when ``Image/`` exists, MSD when ``dataset.json`` exists, else nifti).
        patients: pylidc only: patient folders or numbers to read (``"LIDC-IDRI-0001"`` or ``"0001"``).
        limit: read only the first ``limit`` patients (volumes).
        pixel_size_mm: pylidc only: in-plane spacing (the export does not keep it; without it sizes
            are in pixels and ``meta["spacing_known"]`` is False).
        min_pixels: ignore mask components smaller than this.
        volume_options: extra arguments for the volume reader (e.g. ``{"stride": 2}``).
        background_crops: nodule-free crops per slice, for training only (:func:`crop_cases`).
        background_seed: seed of their places.

    Returns:
        Cases of ``crop_size`` with float32 images, uint8 0/1 masks, ``group`` = patient (volume).
    """
    root = Path(root)
    if isinstance(background_crops, bool) or not isinstance(background_crops, int) or background_crops < 0:
        raise ValueError(f"background_crops must be a whole number >= 0, got {background_crops!r}")
    if source == "auto":
        source = "pylidc" if (root / "Image").is_dir() else "msd" if (root / "dataset.json").is_file() else "nifti"
    if source == "pylidc":
        cases = read_pylidc_slices(root, patients, limit, pixel_size_mm)
    elif source in ("nifti", "msd"):
        from medseg.data.readers.registry import read_dataset

        options = {"empty_fraction": 0.0, **(volume_options or {})}
        if limit is not None:
            options["limit"] = limit
        cases = read_dataset(source, root, **options)
        for case in cases:
            case.mask = (case.mask > 0).astype(np.uint8) if case.mask is not None else None
    else:
        raise ValueError(f"source must be auto, pylidc, nifti or msd, got {source!r}")
    if crop_size is None:
        return cases
    return crop_cases(cases, crop_size, min_pixels, background_crops, background_seed)
