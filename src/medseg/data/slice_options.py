"""The slicing options every volume reader shares (``nifti``, ``msd``, ``dicom``, ``ircadb``, ``nnunet``).

A reader keeps them as plain keyword arguments (so configs name them in ``data.reader``) and
builds one :class:`SliceOptions`, which checks them before any file is read and turns each
volume with its labels into slice cases.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from medseg.data.case import Case
from medseg.data.volumes.base import Volume
from medseg.data.volumes.roi import crop_volume, region_box, with_context
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
        roi_margin_mm: cut each volume to the bounding box of its labels widened by this margin
            (a cascade's second stage, :mod:`medseg.data.volumes.roi`); None: the whole volume.
        context_slices: neighbouring slices on either side given as extra channels (2.5D): slice
            images become ``(H, W, 2 * context_slices + 1)``.

    Raises:
        ValueError: ``stride < 1``, ``empty_fraction`` outside ``[0, 1]``, a negative margin or context.
    """

    empty_fraction: float = 1.0
    stride: int = 1
    seed: int = 0
    label_map: dict[Any, Any] | None = None
    roi_margin_mm: float | None = None
    context_slices: int = 0

    def __post_init__(self) -> None:
        if self.stride < 1:
            raise ValueError(f"stride must be at least 1, got {self.stride}")
        if not 0 <= self.empty_fraction <= 1:
            raise ValueError(f"empty_fraction must be in [0, 1], got {self.empty_fraction}")
        if self.roi_margin_mm is not None and not (
            isinstance(self.roi_margin_mm, int | float) and 0 <= self.roi_margin_mm < 1000
        ):
            raise ValueError(f"roi_margin_mm must be a margin in mm (0 to 1000) or null, got {self.roi_margin_mm!r}")
        if (
            isinstance(self.context_slices, bool)
            or not isinstance(self.context_slices, int)
            or not (0 <= self.context_slices <= 8)
        ):
            raise ValueError(f"context_slices must be a whole number from 0 to 8, got {self.context_slices!r}")

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

        See :func:`medseg.data.volumes.slicing.volume_cases` for the cases' ids and ``meta``; with
        ``roi_margin_mm`` the volume is first cut to its labels' box (``meta["roi_box"]``: the box's
        first voxel ``(z, y, x)`` in the whole volume), with ``context_slices`` each slice carries
        its neighbours (taken from the whole volume, before the cut).
        """
        labels = None if labels is None else self.labels(labels)
        extra_meta = dict(extra_meta or {})
        if self.context_slices:
            volume = replace(volume, array=with_context(volume.array, self.context_slices))
        if self.roi_margin_mm is not None and labels is not None:
            box = region_box(labels, volume.spacing_zyx, float(self.roi_margin_mm))
            if box is not None:
                volume, labels = crop_volume(volume, box), labels[box]
                extra_meta["roi_box"] = [box[0].start, box[1].start, box[2].start]
        return volume_cases(volume, labels, name, group, self.empty_fraction, self.stride, self.seed, extra_meta)
