"""One reader per native dataset layout; each returns ``list[Case]``.

Adding a layout is one new module with a function decorated by ``@READERS.register("name")``
and one import line below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medseg.data.case import Case
from medseg.errors import ConfigError
from medseg.registry import Registry

READERS: Registry = Registry("reader")


def read_dataset(layout: str, root: str | Path, **kwargs: Any) -> list[Case]:
    """Reads the dataset at ``root`` with the reader registered for ``layout``.

    Raises:
        ConfigError: unknown layout.
        DataError: missing or inconsistent files (names the file).
    """
    try:
        reader = READERS.get(layout)
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from None
    return reader(Path(root), **kwargs)


# Registration happens on import.
from medseg.data.readers import (  # noqa: E402,F401
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
