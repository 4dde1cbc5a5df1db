"""The record every reader returns and every later stage consumes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

TYPED_KEYS = ("spacing_mm", "group", "reference")
TRAINING_ONLY = "training_only"  # meta key of cases used for training only (see Case.training_only)


@dataclass(eq=False)
class Meta(MutableMapping[str, Any]):
    """What a reader knows about a case: typed fields every stage relies on, plus the layout's own facts.

    It is also a mapping (``meta["spacing_mm"]``, ``meta.get("affine")``, ``{**meta}``), so readers
    may keep building it from a dict; ``Case`` converts one. ``group`` is absent from the mapping
    while unset.

    Attributes:
        spacing_mm: ``(row, col)`` millimetres per pixel; ``None`` when the dataset publishes none.
        group: subject / patient / video sequence; splits never separate a group.
        reference: reference measurements, e.g. ``{"hc_mm": 171.2}``.
        extra: the layout's own facts (``affine``, ``slice_index``, ``sequence``, ...).
    """

    spacing_mm: tuple[float, float] | None = (1.0, 1.0)
    group: str | None = None
    reference: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Meta:
        if isinstance(values, Meta):
            return values
        meta = cls()
        for key, value in values.items():
            meta[key] = value
        return meta

    def __getitem__(self, key: str) -> Any:
        if key in TYPED_KEYS:
            if key == "group" and self.group is None:
                raise KeyError(key)
            return getattr(self, key)
        return self.extra[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if key == "spacing_mm":
            self.spacing_mm = None if value is None else (float(value[0]), float(value[1]))
        elif key == "group":
            self.group = None if value is None else str(value)
        elif key == "reference":
            self.reference = dict(value)
        else:
            self.extra[key] = value

    def __delitem__(self, key: str) -> None:
        if key == "group" and self.group is not None:
            self.group = None
        elif key in TYPED_KEYS:
            raise KeyError(f"{key} is always present; set it instead")
        else:
            del self.extra[key]

    def __iter__(self) -> Iterator[str]:
        yield from (key for key in TYPED_KEYS if key != "group" or self.group is not None)
        yield from self.extra

    def __len__(self) -> int:
        return len(TYPED_KEYS) - (self.group is None) + len(self.extra)


@dataclass
class Case:
    """One image with its (optional) label map.

    Attributes:
        id: unique name within a dataset, e.g. ``"010_2HC"``.
        image: ``(H, W)`` grey or ``(H, W, C)`` multi-channel array, any numeric dtype.
        mask: ``(H, W)`` integer label map (0 background, 1.. classes) or ``None`` when unlabelled.
        meta: a :class:`Meta` (a dict given here is converted): ``spacing_mm`` as ``(row, col)``
            millimetres per pixel (``None`` when the dataset publishes none, e.g. endoscopy
            frames), ``group`` (subject / patient / video sequence, used by splits), ``reference``
            measurements (e.g. ``{"hc_mm": 171.2}``) and the layout's own facts.
        source: path of the image file the case was read from.
    """

    id: str
    image: np.ndarray
    mask: np.ndarray | None
    meta: Meta = field(default_factory=Meta)
    source: Path | None = None

    def __post_init__(self) -> None:
        self.meta = Meta.from_mapping(self.meta)

    @property
    def spacing_mm(self) -> tuple[float, float]:
        """``(row, col)`` pixel spacing in millimetres (1.0 when unknown: see :attr:`has_spacing`)."""
        return self.meta.spacing_mm if self.meta.spacing_mm is not None else (1.0, 1.0)

    @property
    def has_spacing(self) -> bool:
        """Whether the pixel spacing is known; distances are then in mm, otherwise in pixels."""
        return self.meta.spacing_mm is not None

    @property
    def group(self) -> str:
        """The subject this case belongs to; splits never separate a group."""
        return self.meta.group if self.meta.group is not None else self.id

    @property
    def training_only(self) -> bool:
        """A training example only (e.g. a nodule-free crop showing the network what is not a nodule):
        splits put it in ``train`` when its group trains and leave it out of ``val`` and ``test``."""
        return bool(self.meta.get(TRAINING_ONLY, False))

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.image.shape[0]), int(self.image.shape[1])
