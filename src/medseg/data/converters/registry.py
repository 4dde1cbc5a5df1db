"""The converter registry: ``medseg convert NAME SRC OUT`` looks ``NAME`` up here.

A converter module builds a :class:`Converter` and registers it with one line,
``CONVERTERS.register("name")(Converter(...))``, and its name has one line in ``CONVERTER_MODULES``
(:mod:`medseg.data.converters.table`): :data:`CONVERTERS` knows every converter from that table and
imports a converter's module the first time it is used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from medseg.data.case import Case
from medseg.data.converters.table import CONVERTER_MODULES
from medseg.registry import Registry

#: ``write(src, work, cases, labels) -> written files``: ``work`` is the (empty) output folder being
#: built; ``cases`` are SRC's cases read and checked with ``--layout`` (None unless ``reads_layout``).
WriteFn = Callable[[Path, Path, "list[Case] | None", "list[str] | None"], list[Path]]


@dataclass(frozen=True)
class Converter:
    """One conversion: what it writes, and whether SRC is first read with a reader (``--layout``).

    Attributes:
        write: writes the converted dataset into ``work`` and returns the files written there.
        summary: one line for ``medseg convert --help`` (source -> target).
        reads_layout: SRC is read (and checked) with the reader named by ``--layout`` before the
            output folder is created; the cases go to ``write``.
    """

    write: WriteFn
    summary: str
    reads_layout: bool = False

    def __call__(self, src: Path, work: Path, cases: list[Case] | None, labels: list[str] | None) -> list[Path]:
        return self.write(src, work, cases, labels)


CONVERTERS: Registry = Registry("conversion", lazy=CONVERTER_MODULES)
