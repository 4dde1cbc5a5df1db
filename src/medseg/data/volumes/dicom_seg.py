"""Labels predicted on a DICOM series as a DICOM Segmentation (SEG) object that references the series.

Built with highdicom (:class:`highdicom.seg.Segmentation`): one binary segment per foreground
class, frame ``k`` laid over the source slice ``k`` (same SOP instance, same ImagePositionPatient),
so a viewer or PACS shows it over the right slices. The segments are coded with SNOMED CT where
the class name is a known structure (liver, lung, kidney, bone, head), ``Neoplasm`` for tumour-like
names, ``Tissue`` otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medseg import __version__
from medseg.data.volumes.dicom import read_series_datasets
from medseg.errors import DataError
from medseg.io import atomic_write_bytes

ORGANS = ("liver", "lung", "kidney", "bone", "head")
LESIONS = ("tumour", "tumor", "lesion", "cancer", "metastasis", "nodule")


def _codes(name: str) -> tuple[Any, Any]:
    """``(segmented property category, type)`` codes of a class name."""
    from pydicom.sr.codedict import codes

    lower = name.lower()
    if any(word in lower for word in LESIONS):
        kind = codes.SCT.Nodule if "nodule" in lower else codes.SCT.Neoplasm
        return codes.SCT.MorphologicallyAbnormalStructure, kind
    organ = next((word for word in ORGANS if word in lower), None)
    if organ is not None:
        return codes.SCT.Organ, getattr(codes.SCT, organ.capitalize())
    return codes.SCT.Tissue, codes.SCT.Tissue


# Type 2 attributes of the patient and study modules that a SEG copies from its source (empty if absent)
_COPIED = ("PatientID", "PatientName", "PatientBirthDate", "PatientSex", "StudyID", "StudyDate", "StudyTime")
_COPIED += ("ReferringPhysicianName", "AccessionNumber")


def _completed(datasets: list[Any]) -> list[Any]:
    """The source slices with the attributes a SEG copies present: empty type 2 values, and one
    FrameOfReferenceUID and StudyInstanceUID shared by the slices where a (phantom or anonymised)
    series lacks them. The datasets are changed in place (they were read for this purpose)."""
    from pydicom.uid import generate_uid

    frame_of_reference = next((ds.FrameOfReferenceUID for ds in datasets if "FrameOfReferenceUID" in ds), None)
    study = next((ds.StudyInstanceUID for ds in datasets if "StudyInstanceUID" in ds), None)
    frame_of_reference, study = frame_of_reference or generate_uid(), study or generate_uid()
    for ds in datasets:
        for keyword in _COPIED:
            if keyword not in ds:
                setattr(ds, keyword, "")
        if "FrameOfReferenceUID" not in ds:
            ds.FrameOfReferenceUID = frame_of_reference
        if "StudyInstanceUID" not in ds:
            ds.StudyInstanceUID = study
    return datasets


def build_dicom_seg(
    labels_zyx: np.ndarray,
    source_datasets: list[Any],
    class_names: list[str],
    model_name: str = "medseg",
) -> Any:
    """A :class:`highdicom.seg.Segmentation` of ``(Z, Y, X)`` labels over sorted source slices.

    Args:
        labels_zyx: uint8 labels, ``labels_zyx[k]`` over ``source_datasets[k]``.
        source_datasets: the series' pydicom datasets in slice order (:func:`read_series_datasets`).
        class_names: one per label value (0 background); each foreground class is a segment.
        model_name: the algorithm's name in the segment descriptions.

    Raises:
        DataError: labels whose shape differs from the series.
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    source_datasets = _completed(source_datasets)
    first = source_datasets[0]
    shape = (len(source_datasets), int(first.Rows), int(first.Columns))
    if tuple(labels_zyx.shape) != shape:
        raise DataError(first.get("SeriesInstanceUID", "series"), f"labels {labels_zyx.shape} differ from {shape}")
    algorithm = hd.AlgorithmIdentificationSequence(
        name=model_name, version=__version__, family=codes.cid7162.ArtificialIntelligence
    )
    descriptions = []
    for number, name in enumerate(class_names[1:], start=1):
        category, kind = _codes(name)
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=number,
                segment_label=name,
                segmented_property_category=category,
                segmented_property_type=kind,
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
                algorithm_identification=algorithm,
                tracking_uid=hd.UID(),
                tracking_id=f"{model_name} {name}",
            )
        )
    return hd.seg.Segmentation(
        source_images=source_datasets,
        pixel_array=np.ascontiguousarray(labels_zyx.astype(np.uint8)),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=int(first.get("SeriesNumber", 0) or 0) + 1000,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="medseg",
        manufacturer_model_name=model_name,
        software_versions=__version__,
        device_serial_number="0",
        series_description=f"medseg {model_name} segmentation",
        omit_empty_frames=False,
    )


def write_dicom_seg(
    labels_zyx: np.ndarray, series: str | Path, class_names: list[str], out_path: str | Path, model_name: str = "medseg"
) -> Path:
    """Writes ``(Z, Y, X)`` labels predicted on a DICOM series (folder or zip) as a DICOM SEG file.

    The labels must be in the slice order :func:`medseg.data.volumes.dicom.load_dicom_series` gives.

    Returns:
        ``out_path``.

    Raises:
        DataError: an unreadable series, or labels whose shape differs from it.
    """
    import io

    segmentation = build_dicom_seg(labels_zyx, read_series_datasets(series), class_names, model_name)
    buffer = io.BytesIO()
    segmentation.save_as(buffer)
    atomic_write_bytes(out_path, buffer.getvalue())
    return Path(out_path)
