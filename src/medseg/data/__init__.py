"""Data model, readers, splits and transforms.

Nothing is imported here on its own (``Case`` is loaded on first use), so that importing a light
submodule such as :mod:`medseg.data.readers.table` does not pull in NumPy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from medseg.data.case import Case

__all__ = ["Case"]


def __getattr__(name: str) -> Any:
    if name == "Case":
        from medseg.data.case import Case

        return Case
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
