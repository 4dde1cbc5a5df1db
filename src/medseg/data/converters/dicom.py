"""``medseg convert dicom``: DICOM series (image + optional mask series) -> LiTS-style NIfTI pairs."""

from __future__ import annotations

from pathlib import Path

from medseg.data.case import Case
from medseg.data.converters.registry import CONVERTERS, Converter
from medseg.data.readers.dicom import convert_dicom


def _convert(src: Path, work: Path, cases: list[Case] | None, labels: list[str] | None) -> list[Path]:
    return [path for pair in convert_dicom(src, work) for path in pair if path is not None]


CONVERTERS.register("dicom")(
    Converter(_convert, "DICOM series folders -> volume-I.nii.gz (+ segmentation-I.nii.gz) (LiTS layout)")
)
