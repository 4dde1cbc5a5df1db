"""Whole-body bone scintigraphy: anterior and posterior views with hotspot label maps.

```
root/images/<patient>_<view>.png|.dcm   counts (8/16-bit PNG, or single-frame NM DICOM)
root/labels/<patient>_<view>.png        label map in the 4-segment scheme (below)
root/pixel_size.csv                     optional: filename,pixel size(mm) (DICOM: PixelSpacing)
```
``<view>`` is ``anterior`` or ``posterior`` (``ant``/``post`` accepted). Label schemes:

- 4 segments: 0 background, 1 normal bone, 2 normal uptake (kidneys, bladder, ..), 3 abnormal hotspot.
- 3 segments: normal uptake merged into bone: 0 background, 1 bone, 2 hotspot.

Files hold the 4-segment scheme (``labels_scheme=3`` when they already hold 3); ``scheme`` picks the
one the cases get. ``view`` selects one view (a model per view) or both; ``group`` is the patient,
so both views of a patient stay on the same side of a split.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from medseg.data.case import Case
from medseg.data.checks import case_guard
from medseg.data.io import IMAGE_SUFFIXES, read_image
from medseg.data.pixel_sizes import read_pixel_sizes
from medseg.data.readers.folder import find_mask
from medseg.data.readers.registry import READERS
from medseg.errors import DataError

VIEWS = ("anterior", "posterior")
_VIEW_ALIASES = {"anterior": "anterior", "ant": "anterior", "posterior": "posterior", "post": "posterior"}
_NAME = re.compile(r"^(?P<patient>.+)_(?P<view>anterior|posterior|ant|post)$", re.IGNORECASE)
SCHEME_4_TO_3 = np.array([0, 1, 1, 2], dtype=np.uint8)
CLASS_NAMES = {4: ["background", "bone", "normal_uptake", "hotspot"], 3: ["background", "bone", "hotspot"]}


def to_scheme(labels: np.ndarray, scheme: int, stored_scheme: int = 4) -> np.ndarray:
    """Converts a label map between the 4- and 3-segment schemes (4 -> 3 merges normal uptake into bone).

    Raises:
        ValueError: unknown scheme, 3 -> 4 (information lost), or labels outside the stored scheme.
    """
    if scheme not in (3, 4) or stored_scheme not in (3, 4):
        raise ValueError(f"label schemes are 3 or 4, got scheme={scheme}, labels_scheme={stored_scheme}")
    if labels.max() >= stored_scheme:
        raise ValueError(f"label {int(labels.max())} is outside the {stored_scheme}-segment scheme")
    if scheme == stored_scheme:
        return labels.astype(np.uint8)
    if scheme == 4:
        raise ValueError("cannot recover the 4-segment scheme from 3-segment labels")
    return SCHEME_4_TO_3[labels]


def _read_counts(path: Path) -> tuple[np.ndarray, tuple[float, float] | None]:
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return read_image(path), None
    import pydicom

    try:
        ds = pydicom.dcmread(path)
        pixels = ds.pixel_array
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for bad files
        raise DataError(path, f"cannot be read as DICOM ({exc})") from None
    if pixels.ndim != 2:
        raise DataError(path, f"expected one single-frame view, got pixel data of shape {pixels.shape}")
    spacing = getattr(ds, "PixelSpacing", None)
    return pixels, (float(spacing[0]), float(spacing[1])) if spacing else None


@READERS.register("bone_scan")
def read_bone_scan(
    root: Path,
    view: str = "both",
    scheme: int = 4,
    labels_scheme: int = 4,
    flip_posterior: bool = False,
    pixel_size_mm: float = 1.0,
    require_labels: bool = True,
    limit: int | None = None,
) -> list[Case]:
    """Reads bone scans in the layout above.

    Args:
        view: ``"anterior"``, ``"posterior"`` or ``"both"``.
        scheme: label scheme of the cases (4 or 3 segments).
        labels_scheme: scheme the label files hold.
        flip_posterior: mirror posterior views left-right so they overlay the anterior view (patient's
            right on the same side), e.g. to train one model on both views.
        pixel_size_mm: spacing when neither ``pixel_size.csv`` nor DICOM gives one.
        require_labels: error on an image without label map; otherwise ``mask=None``.
        limit: read only the first ``limit`` patients.

    Returns:
        Cases ``<patient>_<view>``: ``(H, W)`` counts (uint8/uint16), uint8 labels, ``meta`` with
        ``spacing_mm``, ``group`` = patient, ``patient``, ``view``, ``scheme``, ``class_names``, ``flipped``.

    Raises:
        DataError: missing folders or labels, a file name without view, sizes that differ.
    """
    root = Path(root)
    if view not in (*VIEWS, "both"):
        raise ValueError(f"view must be anterior, posterior or both, got {view!r}")
    to_scheme(np.zeros(1, np.uint8), scheme, labels_scheme)
    image_dir, label_dir = root / "images", root / "labels"
    if not image_dir.is_dir():
        raise DataError(image_dir, "bone scan images folder not found")
    if require_labels and not label_dir.is_dir():
        raise DataError(label_dir, "bone scan labels folder not found")
    spacing_table = {}
    if (root / "pixel_size.csv").is_file():
        spacing_table = read_pixel_sizes(root / "pixel_size.csv")
    files = sorted(p for p in image_dir.iterdir() if p.is_file() and p.suffix.lower() in (*IMAGE_SUFFIXES, ".dcm"))
    if not files:
        raise DataError(image_dir, "no bone scan images (<patient>_<view>.png or .dcm)")
    entries = []
    for path in files:
        match = _NAME.match(path.stem)
        with case_guard():
            if match is None:
                raise DataError(path, "file name must be <patient>_<view> with view anterior or posterior")
            entries.append((match.group("patient"), _VIEW_ALIASES[match.group("view").lower()], path))
    patients = sorted({patient for patient, _, _ in entries})
    if limit is not None:
        patients = patients[:limit]
    wanted = set(patients)
    cases = []
    for patient, this_view, path in entries:
        if patient not in wanted or view not in ("both", this_view):
            continue
        with case_guard():
            image, dicom_spacing = _read_counts(path)
            size = spacing_table.get(path.name, pixel_size_mm)
            spacing = dicom_spacing or (size, size)
            label_path = find_mask(label_dir, path.stem) if label_dir.is_dir() else None
            labels = None
            if label_path is None:
                if require_labels:
                    raise DataError(path, f"no label map {path.stem}.png in {label_dir}")
            else:
                raw = read_image(label_path)
                if raw.shape != image.shape[:2]:
                    raise DataError(
                        label_path, f"label size {raw.shape[::-1]} differs from image size {image.shape[1::-1]}"
                    )
                try:
                    labels = to_scheme(raw, scheme, labels_scheme)
                except ValueError as exc:
                    raise DataError(label_path, str(exc)) from None
            flipped = flip_posterior and this_view == "posterior"
            if flipped:
                image = np.ascontiguousarray(image[:, ::-1])
                labels = None if labels is None else np.ascontiguousarray(labels[:, ::-1])
            meta = {
                "spacing_mm": spacing,
                "group": patient,
                "patient": patient,
                "view": this_view,
                "scheme": scheme,
                "class_names": CLASS_NAMES[scheme],
                "flipped": flipped,
                "reference": {},
            }
            cases.append(Case(path.stem, image, labels, meta, path))
    return cases
