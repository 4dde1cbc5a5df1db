"""One reader per native dataset layout; each returns ``list[Case]``.

:func:`read_dataset` reads a layout and checks every case, stopping at the first problem;
:func:`check_dataset` reads it the same way and lists every problem (``medseg check``). Both live in
:mod:`medseg.data.readers.registry`, with :data:`READERS`.

Adding a layout is one new module with a function decorated by ``@READERS.register("name")``
(``READERS`` from :mod:`medseg.data.readers.registry`) and one line in ``READER_MODULES``
(:mod:`medseg.data.readers.table`); the module is imported when its layout is first read. This file
imports nothing on its own: the three names below are loaded on first use, so that importing the
table (the command line's ``--layout`` choices) stays quick.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from medseg.data.readers.registry import READERS, check_dataset, read_dataset

__all__ = ["READERS", "check_dataset", "read_dataset"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from medseg.data.readers import registry

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
