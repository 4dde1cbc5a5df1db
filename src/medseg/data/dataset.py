"""PyTorch datasets: cases -> normalised, letterboxed tensors (+ MONAI augmentation for training)."""

from __future__ import annotations

import numpy as np
import torch
from monai import transforms as mt
from monai.data import set_track_meta
from torch.utils.data import Dataset

from medseg.config import AugmentConfig, DataConfig
from medseg.data.case import Case
from medseg.data.transforms import (
    Letterbox,
    apply_region,
    crop_region,
    letterbox_image,
    letterbox_mask,
    make_letterbox,
    normalize,
    preprocess_intensity,
    to_channels_first,
    valid_region,
)
from medseg.errors import DataError


def prepare_image(image: np.ndarray, cfg: DataConfig) -> tuple[np.ndarray, Letterbox]:
    """Native image -> network input: crop, window / median / equalise, letterbox, channels, normalise.

    Args:
        image: ``(H, W)`` or ``(H, W, C)``.

    Returns:
        ``(C, h, w)`` float32 at ``cfg.image_size`` and the letterbox that undoes it (crop included;
        :func:`prepare_mask` applies the same crop and resize to the mask).
    """
    region = crop_region(image, cfg.crop, cfg.crop_foreground)
    box = make_letterbox(image.shape[:2], tuple(cfg.image_size), cfg.keep_aspect, region=region)
    image = preprocess_intensity(apply_region(image, box), cfg.window, cfg.median_filter, cfg.equalize, cfg.clahe_clip)
    resized = letterbox_image(image.astype(np.float32), box)
    array = to_channels_first(resized, cfg.channels)
    return normalize(array, cfg.normalize, valid_region(box)), box


def prepare_mask(case: Case, box: Letterbox, cfg: DataConfig) -> np.ndarray:
    """Native label map -> ``(h, w)`` uint8 at network size, checked against the image and classes."""
    mask = case.mask
    where = case.source or case.id
    if mask is None:
        raise DataError(where, "case has no mask")
    if mask.shape[:2] != case.image.shape[:2]:
        raise DataError(where, f"mask size {mask.shape[1::-1]} differs from image size {case.image.shape[1::-1]}")
    if mask.max() >= cfg.num_classes or mask.min() < 0:
        raise DataError(
            where, f"mask labels {sorted(np.unique(mask).tolist())} out of range for {cfg.num_classes} classes"
        )
    return letterbox_mask(mask, box, cfg.num_classes)


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
