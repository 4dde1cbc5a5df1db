"""Data model, readers, splits and transforms."""

from medseg.data.case import Case

__all__ = ["Case"]
