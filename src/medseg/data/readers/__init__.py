"""One reader per native dataset layout; each returns ``list[Case]``.

:func:`read_dataset` reads a layout and checks every case, stopping at the first problem;
:func:`check_dataset` reads it the same way and lists every problem (``medseg check``). Both live in
:mod:`medseg.data.readers.registry`, with :data:`READERS`.

Adding a layout is one new module with a function decorated by ``@READERS.register("name")``
(``READERS`` from :mod:`medseg.data.readers.registry`) and one import line below. This file only
imports the readers (registration) and re-exports.
"""

from __future__ import annotations

# Registration happens on import: one line per reader module.
from medseg.data.readers import (  # noqa: F401
    bone_scan,
    ct,
    cvc,
    dicom,
    folder,
    hc18,
    ircadb,
    kvasir,
    lidc,
    nifti,
    nnunet,
)
from medseg.data.readers.registry import READERS, check_dataset, read_dataset

__all__ = ["READERS", "check_dataset", "read_dataset"]
