"""PyTorch datasets: cases -> normalised, letterboxed tensors (+ MONAI augmentation for training).

The preprocessing itself (:func:`prepare_image`, :func:`prepare_mask`) is in
:mod:`medseg.data.preprocessing`, shared with inference.
"""

from __future__ import annotations

import numpy as np
import torch
from monai import transforms as mt
from monai.data import set_track_meta
from torch.utils.data import Dataset

from medseg.config import AugmentConfig, DataConfig
from medseg.data.case import Case
from medseg.data.preprocessing import prepare_image, prepare_mask
from medseg.errors import DataError


def build_augmentation(aug: AugmentConfig, patch_size: list[int] | None) -> mt.Compose:
    """MONAI dictionary transforms applied to ``{"image": (C,H,W), "mask": (1,H,W)}`` together."""
    keys = ["image", "mask"]
    steps: list = []
    if aug.flip:
        steps += [mt.RandFlipd(keys, prob=0.5, spatial_axis=0), mt.RandFlipd(keys, prob=0.5, spatial_axis=1)]
    if aug.rotate_deg > 0 or aug.scale > 0:
        steps.append(
            mt.RandAffined(
                keys,
                prob=aug.prob,
                rotate_range=np.deg2rad(aug.rotate_deg),
                scale_range=(aug.scale, aug.scale),
                mode=("bilinear", "nearest"),
                padding_mode="zeros",
            )
        )
    if aug.intensity > 0:
        steps += [
            mt.RandScaleIntensityd("image", factors=aug.intensity, prob=aug.prob),
            mt.RandShiftIntensityd("image", offsets=aug.intensity, prob=aug.prob),
        ]
    if aug.color > 0:
        steps += [
            mt.RandScaleIntensityd("image", factors=aug.color, prob=aug.prob, channel_wise=True),
            mt.RandShiftIntensityd("image", offsets=aug.color, prob=aug.prob, channel_wise=True),
        ]
    if aug.grid_distortion > 0:
        steps.append(
            mt.RandGridDistortiond(
                keys,
                prob=aug.prob,
                distort_limit=aug.grid_distortion,
                mode=("bilinear", "nearest"),
                padding_mode="zeros",
            )
        )
    if aug.noise > 0:
        steps.append(mt.RandGaussianNoised("image", prob=aug.prob, std=aug.noise))
    if patch_size:
        steps.append(mt.RandSpatialCropd(keys, roi_size=tuple(patch_size), random_size=False))
    return mt.Compose(steps)


class SegmentationDataset(Dataset):
    """Cases preprocessed once (letterbox + normalisation), augmented per draw when training.

    Items are ``{"image": (C, H, W) float32, "mask": (1, H, W) int64}`` tensors.
    """

    def __init__(self, cases: list[Case], cfg: DataConfig, augment: AugmentConfig | None = None) -> None:
        if not cases:
            raise DataError(".", "no cases to build a dataset from")
        set_track_meta(False)
        self.ids = [case.id for case in cases]
        self.images, self.masks = [], []
        for case in cases:
            image, box = prepare_image(case.image, cfg)
            self.images.append(torch.from_numpy(image))
            self.masks.append(torch.from_numpy(prepare_mask(case, box, cfg)[None].astype(np.int64)))
        self.transform = build_augmentation(augment, cfg.patch_size) if augment is not None else None

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = {"image": self.images[index], "mask": self.masks[index]}
        if self.transform is not None:
            item = self.transform({"image": item["image"].clone(), "mask": item["mask"].float()})
            item = {"image": torch.as_tensor(item["image"]).float(), "mask": torch.as_tensor(item["mask"]).long()}
        return item

    def set_random_state(self, seed: int) -> None:
        if self.transform is not None:
            self.transform.set_random_state(seed)
