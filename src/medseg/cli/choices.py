"""The allowed values of the enumerated options: typer lists them in ``--help`` and refuses others."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from medseg.data.converters.table import CONVERTER_MODULES
from medseg.data.readers.table import READER_MODULES

# Checkpoints and splits are open sets (a .pt file inside the run; a split saved in its split.json):
# their help shows the usual values, and the library refuses the others with a message naming them.
CHECKPOINT = "best|last|FILE.pt"
SPLIT = "test|val|train|all"


class Backend(str, Enum):
    """Inference backend; auto: ONNX Runtime when the run was exported, else PyTorch."""

    auto = "auto"
    onnx = "onnx"
    torch = "torch"


def choices_of(name: str, table: Iterable[str], doc: str) -> type[Enum]:
    """A ``str`` Enum named ``name`` with one member per entry of ``table`` (its keys), in order."""
    choices = Enum(name, {entry: entry for entry in table}, type=str)  # type: ignore[misc]
    choices.__doc__ = doc
    return choices


# Built from the registries' tables (name -> module), so that a new reader or converter is a choice
# with no edit here, and without importing the readers (OpenCV, SciPy ...): --help stays quick.
Conversion = choices_of("Conversion", CONVERTER_MODULES, "``medseg convert`` kinds.")
Layout = choices_of("Layout", sorted(READER_MODULES), "Dataset layouts: the readers of ``medseg.data.readers``.")


def value(choice: Enum | str | None) -> str | None:
    """The plain string of a choice (None stays None)."""
    return choice.value if isinstance(choice, Enum) else choice
