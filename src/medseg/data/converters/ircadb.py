"""``medseg convert ircadb``: 3D-IRCADb patients (DICOM zips) -> LiTS-style NIfTI pairs."""

from __future__ import annotations

from pathlib import Path

from medseg.data.case import Case
from medseg.data.converters.registry import CONVERTERS, Converter
from medseg.data.readers.ircadb import convert_ircadb


def _convert(src: Path, work: Path, cases: list[Case] | None, labels: list[str] | None) -> list[Path]:
    return [path for pair in convert_ircadb(src, work) for path in pair]


CONVERTERS.register("ircadb")(
    Converter(_convert, "3D-IRCADb patient folders -> volume-N.nii.gz + segmentation-N.nii.gz (LiTS layout)")
)
