"""The allowed values of the enumerated options: typer lists them in ``--help`` and refuses others."""

from __future__ import annotations

from enum import Enum

# Checkpoints and splits are open sets (a .pt file inside the run; a split saved in its split.json):
# their help shows the usual values, and the library refuses the others with a message naming them.
CHECKPOINT = "best|last|FILE.pt"
SPLIT = "test|val|train|all"


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
