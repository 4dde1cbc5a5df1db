"""Two trained models as one: stage 1 finds the organ in a whole CT volume, stage 2 segments organ and
lesions inside the organ's box at a finer resolution, with neighbouring slices as channels (2.5D).

The stage-2 run is the model a user names (``medseg predict RUN2 ct.zip``); its config holds the
stage-1 model (``infer.stage1``: a run folder, relative to the stage-2 run or absolute, or a zoo
name) and the box's margin and context slices its training used (``data.reader.roi_margin_mm``,
``data.reader.context_slices``: :mod:`medseg.data.volumes.roi`). Volumes only: a 2D image has no box.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from medseg.data.volumes.base import Volume
from medseg.data.volumes.roi import Box, crop_volume, region_box, with_context
from medseg.errors import ConfigError, DataError
from medseg.inference.postprocess import postprocess_volume
from medseg.inference.predictor import Predictor


class CascadePredictor:
    """Stage 1 then stage 2 (module docstring); behaves as the stage-2 predictor elsewhere.

    Attributes:
        stage1, stage2: the two :class:`Predictor` objects.
        margin_mm: the organ box's margin; context: neighbouring slices per side of stage 2's input.
        last_box: the box the last volume was handed over with (``(z, y, x)`` slices), or None.
    """

    def __init__(self, stage1: Predictor, stage2: Predictor) -> None:
        reader = stage2.config.data.reader or {}
        if reader.get("roi_margin_mm") is None:
            raise ConfigError("a cascade's second stage needs data.reader.roi_margin_mm (the box it was trained in)")
        self.stage1, self.stage2 = stage1, stage2
        self.margin_mm = float(reader["roi_margin_mm"])
        self.context = int(reader.get("context_slices", 0))
        self.last_box: Box | None = None

    def __getattr__(self, name: str) -> Any:  # config, batch_size, backend, models, ... of stage 2
        if name in ("stage1", "stage2"):
            raise AttributeError(name)
        return getattr(self.stage2, name)

    def handover_box(self, volume: Volume) -> tuple[np.ndarray, Box | None]:
        """Stage 1's labels of ``volume`` (3D post-processed) and the organ box stage 2 works in."""
        from medseg.inference.volume import predict_slices

        first, _ = predict_slices(self.stage1, volume, desc="stage 1 slices")
        first = postprocess_volume(first, list(self.stage1.config.data.class_names))
        return first, region_box(first, volume.spacing_zyx, self.margin_mm)

    def predict_volume_slices(
        self, volume: Volume, keep_probabilities: bool = False, desc: str = "slices"
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``(Z, Y, X)`` labels of the whole volume (background outside the box) and, when asked,
        ``(C, Z, Y, X)`` float16 probabilities (certain background outside the box)."""
        from medseg.inference.volume import predict_slices

        _, box = self.handover_box(volume)
        self.last_box = box
        classes = self.stage2.config.data.num_classes
        labels = np.zeros(volume.array.shape[:3], np.uint8)
        probabilities = None
        if keep_probabilities:
            probabilities = np.zeros((classes, *labels.shape), np.float16)
            probabilities[0] = 1
        if box is None:  # no organ found: nothing for stage 2
            return labels, probabilities
        stacked = replace(volume, array=with_context(volume.array, self.context))
        inside, inside_probabilities = predict_slices(
            self.stage2, crop_volume(stacked, box), keep_probabilities, desc=f"{desc} (stage 2)"
        )
        labels[box] = inside
        if probabilities is not None and inside_probabilities is not None:
            probabilities[(slice(None), *box)] = inside_probabilities
        return labels, probabilities

    def predict(self, image: np.ndarray) -> Any:
        raise DataError("image", "a cascade segments CT volumes (NIfTI, DICOM series or zip), not single images")

    predict_batch = predict


def stage1_path(stage2_run: Path, stage1: str) -> str:
    """Where ``infer.stage1`` points: a path relative to the stage-2 run folder, an absolute path or a zoo name."""
    candidate = Path(stage1)
    if not candidate.is_absolute() and (stage2_run / candidate).exists():
        return str(stage2_run / candidate)
    return stage1
