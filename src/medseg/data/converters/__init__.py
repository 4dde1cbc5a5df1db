"""Dataset converters (``medseg convert NAME SRC OUT``): one module per converter, registered in
:mod:`medseg.data.converters.registry`. This file only imports them (registration) and re-exports.
"""

from __future__ import annotations

# One line per converter module; importing it registers the converter.
from medseg.data.converters import dicom, ircadb, nnunet  # noqa: F401
from medseg.data.converters.registry import CONVERTERS, Converter

__all__ = ["CONVERTERS", "Converter"]
