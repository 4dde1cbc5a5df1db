"""Dataset converters (``medseg convert NAME SRC OUT``): one module per converter, registered in
:mod:`medseg.data.converters.registry` and listed, one line each, in ``CONVERTER_MODULES``
(:mod:`medseg.data.converters.table`); a converter's module is imported when it is first used.
This file imports nothing on its own: the names below are loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from medseg.data.converters.registry import CONVERTERS, Converter

__all__ = ["CONVERTERS", "Converter"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from medseg.data.converters import registry

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
