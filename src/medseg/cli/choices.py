"""The allowed values of the enumerated options: typer lists them in ``--help`` and refuses others."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from typing import Annotated

import typer

from medseg.data.converters.table import CONVERTER_MODULES
from medseg.data.readers.table import READER_MODULES

# Checkpoints and splits are open sets (a .pt file inside the run; a split saved in its split.json):
# their help shows the usual values, and the library refuses the others with a message naming them.
CHECKPOINT = "best|last|FILE.pt"
SPLIT = "test|val|train|all"

# The --threads option of the commands that run a model (predict, serve, check-precision).
Threads = Annotated[int | None, typer.Option(help="CPU threads of ONNX Runtime or PyTorch (default: all cores)")]


class Backend(str, Enum):
    """Inference backend; auto: ONNX Runtime when the run was exported, else PyTorch."""

    auto = "auto"
    onnx = "onnx"
    torch = "torch"


class Precision(str, Enum):
    """Inference precision (PyTorch): float32, bfloat16 autocast, or auto (bfloat16 on a CPU with native bfloat16)."""

    float32 = "float32"
    bfloat16 = "bfloat16"
    auto = "auto"


class LowPrecision(str, Enum):
    """What ``medseg check-precision`` compares with float32: bfloat16 (PyTorch), int8 (ONNX Runtime)."""

    bfloat16 = "bfloat16"
    int8 = "int8"


def _choices(name: str, entries: Iterable[str], doc: str) -> type[Enum]:
    choices = Enum(name, {entry: entry for entry in entries}, type=str)  # type: ignore[misc]
    choices.__doc__ = doc
    return choices


# Both are built from the registries' tables (name -> module): a new reader or converter is a choice
# with no edit here, and listing them imports no reader (OpenCV, SciPy ...), so --help stays quick.
def conversion_choices() -> type[Enum]:
    """The ``medseg convert`` kinds: the converter table's names, in its order."""
    return _choices("Conversion", CONVERTER_MODULES, "``medseg convert`` kinds.")


def layout_choices() -> type[Enum]:
    """The ``--layout`` choices: the reader table's layouts, sorted."""
    return _choices("Layout", sorted(READER_MODULES), "Dataset layouts: the readers of ``medseg.data.readers``.")


Conversion = conversion_choices()
Layout = layout_choices()


def value(choice: Enum | str | None) -> str | None:
    """The plain string of a choice (None stays None)."""
    return choice.value if isinstance(choice, Enum) else choice
