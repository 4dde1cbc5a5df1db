"""Which settings let the liver recipe learn: 48 Adam steps on two CT phantoms (LiTS layout), per variant.

Prints the mean loss of the first and last 6 steps and the liver (labels 1+2) Dice on the training
slices afterwards; the recipe shrunk to 48x48 pixels and widths 8/16/32, one CPU thread, a few
seconds of CPU per variant.

    PYTHONPATH=src OMP_NUM_THREADS=1 python bench/liver_loss_probe.py [variant ...]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from medseg.config import load_config
from medseg.data.dataset import SegmentationDataset
from medseg.data.phantoms import write_lits_dataset
from medseg.data.readers import read_dataset
from medseg.losses import create_loss
from medseg.models import create_model

SHRINK = ["data.image_size=[48,48]", "model.params.channels=[8,16,32]", "train.batch_size=4"]
VARIANTS = {
    "recipe": [],
    "lr3e-3": ["train.lr=3e-3"],
    "dice_ce": ["train.loss=dice_ce", "train.loss_params={}"],
    "zscore": ["data.normalize=zscore"],
    "ft_only": ["train.loss=focal_tversky", "train.loss_params={batch: true, smooth: 1.0}"],
    "ft_paper_persample": ["train.loss=focal_tversky", "train.loss_params={}"],
    "noaug": ["augment.rotate_deg=0", "augment.scale=0", "augment.intensity=0"],
}


def run(name: str, cases: list, overrides: list[str], steps: int = 48) -> None:
    config = load_config("liver_res_attention_unet", SHRINK + overrides)
    torch.manual_seed(0)
    dataset = SegmentationDataset(cases, config.data, config.augment)
    net = create_model(config.model.name, in_channels=1, classes=3, **config.model.params)
    loss_fn = create_loss(config.train.loss, **config.train.loss_params)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.train.lr)
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, shuffle=True, drop_last=True)
    losses: list[float] = []
    started = time.process_time()
    while len(losses) < steps:
        for batch in loader:
            optimizer.zero_grad()
            loss = loss_fn(net(batch["image"]), batch["mask"])
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if len(losses) >= steps:
                break
    net.eval()
    with torch.no_grad():
        images, masks = torch.stack(dataset.images), torch.stack(dataset.masks)
        liver = net(images).argmax(1, keepdim=True) >= 1
        dice = 2 * (liver & (masks >= 1)).sum().item() / (liver.sum().item() + (masks >= 1).sum().item())
    print(
        f"{name}: loss {np.mean(losses[:6]):.3f} -> {np.mean(losses[-6:]):.3f}; liver Dice {dice:.3f}; "
        f"{time.process_time() - started:.1f} s CPU",
        flush=True,
    )


def main() -> None:
    torch.set_num_threads(1)
    root = write_lits_dataset(Path(tempfile.mkdtemp()) / "phantom", n_volumes=2, shape=(12, 48, 48), seed=0)
    cases = read_dataset("nifti", root)
    for name in sys.argv[1:] or VARIANTS:
        run(name, cases, VARIANTS[name])


if __name__ == "__main__":
    main()
