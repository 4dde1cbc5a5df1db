"""The record every reader returns and every later stage consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Case:
    """One image with its (optional) label map.

    Attributes:
        id: unique name within a dataset, e.g. ``"010_2HC"``.
        image: ``(H, W)`` grey or ``(H, W, C)`` multi-channel array, any numeric dtype.
        mask: ``(H, W)`` integer label map (0 background, 1.. classes) or ``None`` when unlabelled.
        meta: free-form facts; always ``spacing_mm`` as ``(row, col)`` millimetres per pixel
            (``None`` when the dataset publishes none, e.g. endoscopy frames),
            ``group`` (subject / patient / video sequence, used by splits), and where known
            ``reference`` measurements (e.g. ``{"hc_mm": 171.2}``).
        source: path of the image file the case was read from.
    """

    id: str
    image: np.ndarray
    mask: np.ndarray | None
    meta: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None

    @property
    def spacing_mm(self) -> tuple[float, float]:
        """``(row, col)`` pixel spacing in millimetres (1.0 when unknown: see :attr:`has_spacing`)."""
        spacing = self.meta.get("spacing_mm", (1.0, 1.0))
        if spacing is None:
            return 1.0, 1.0
        return float(spacing[0]), float(spacing[1])

    @property
    def has_spacing(self) -> bool:
        """Whether the pixel spacing is known; distances are then in mm, otherwise in pixels."""
        return self.meta.get("spacing_mm", (1.0, 1.0)) is not None

    @property
    def group(self) -> str:
        """The subject this case belongs to; splits never separate a group."""
        return str(self.meta.get("group", self.id))

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.image.shape[0]), int(self.image.shape[1])
