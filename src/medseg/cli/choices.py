"""The allowed values of the enumerated options: typer lists them in ``--help`` and refuses others."""

from __future__ import annotations

from enum import Enum


class Checkpoint(str, Enum):
    """Which checkpoint of a run."""

    best = "best"
    last = "last"


class Split(str, Enum):
    """A split of a run's data."""

    test = "test"
    val = "val"
    train = "train"
    all = "all"


class Backend(str, Enum):
    """Inference backend; auto: ONNX Runtime when the run was exported, else PyTorch."""

    auto = "auto"
    onnx = "onnx"
    torch = "torch"


class Conversion(str, Enum):
    """``medseg convert`` kinds."""

    ircadb = "ircadb"
    dicom = "dicom"
    nnunet = "nnunet"


# The readers of medseg.data.readers (a test keeps the two lists equal; importing the readers here
# would slow every command down).
Layout = Enum(  # type: ignore[misc]
    "Layout",
    {
        name: name
        for name in (
            "bone_scan",
            "ct",
            "cvc_clinicdb",
            "dicom",
            "folder",
            "hc18",
            "ircadb",
            "kvasir",
            "lidc",
            "msd",
            "nifti",
            "nnunet",
        )
    },
    type=str,
)


def value(choice: Enum | str | None) -> str | None:
    """The plain string of a choice (None stays None)."""
    return choice.value if isinstance(choice, Enum) else choice
