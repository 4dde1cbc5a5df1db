"""The slicing options every volume reader shares (``nifti``, ``msd``, ``dicom``, ``ircadb``, ``nnunet``).

A reader keeps them as plain keyword arguments (so configs name them in ``data.reader``) and
builds one :class:`SliceOptions`, which checks them before any file is read and turns each
volume with its labels into slice cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from medseg.data.case import Case
from medseg.data.volumes.base import Volume
from medseg.data.volumes.slicing import remap_labels, volume_cases


@dataclass(frozen=True)
class SliceOptions:
    """Which slices of a volume become cases, and how its labels are renumbered.

    Attributes:
        empty_fraction: fraction of the slices without foreground kept (1: every slice, 0: only
            slices with foreground), drawn at random with ``seed``.
        stride: use every ``stride``-th slice.
        seed: draws the kept empty slices (with a per-volume offset).
        label_map: ``{old: new}`` label changes, e.g. ``{2: 1}`` (liver incl. tumour).

    Raises:
        ValueError: ``stride < 1`` or ``empty_fraction`` outside ``[0, 1]``.
    """

    empty_fraction: float = 1.0
    stride: int = 1
    seed: int = 0
    label_map: dict[Any, Any] | None = None

    def __post_init__(self) -> None:
        if self.stride < 1:
            raise ValueError(f"stride must be at least 1, got {self.stride}")
        if not 0 <= self.empty_fraction <= 1:
            raise ValueError(f"empty_fraction must be in [0, 1], got {self.empty_fraction}")

    def labels(self, labels: np.ndarray) -> np.ndarray:
        """``labels`` (any shape) renumbered by ``label_map``."""
        return remap_labels(labels, self.label_map)

    def cases(
        self,
        volume: Volume,
        labels: np.ndarray | None,
        name: str,
        group: str,
        extra_meta: dict[str, Any] | None = None,
    ) -> list[Case]:
        """The chosen slices of ``volume`` (``(Z, Y, X[, C])``) with its ``(Z, Y, X)`` labels renumbered.

        See :func:`medseg.data.volumes.slicing.volume_cases` for the cases' ids and ``meta``.
        """
        labels = None if labels is None else self.labels(labels)
        return volume_cases(volume, labels, name, group, self.empty_fraction, self.stride, self.seed, extra_meta)
