"""GPU section of the benchmark: training images/s through the real data pipeline against the
model-step bound (the same step on GPU-resident tensors), so loader starvation shows as a ratio.

For each polyp recipe model (RGB, 256x256, BCE + Dice, Adam, fp16 autocast + GradScaler as
``medseg train`` does on CUDA):

- bound: forward + backward + step on one batch that stays on the GPU;
- bound, synced: the same with the two ``.item()`` reads per step that the trainer's bookkeeping does;
- pipeline with W workers: the recipe's augmentation on generated endoscopy images, pinned memory,
  non-blocking copies, then the same step.

    python -m bench.gpu [--out BENCHMARKS_GPU.md] [--batch 16] [--steps 30] [--workers 0 4 8]

Without a CUDA device it says so and exits; ``python -m bench`` includes this section when one is present.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch.utils.data import DataLoader, RandomSampler

from medseg.config import load_config
from medseg.data.dataset import SegmentationDataset
from medseg.data.readers import read_dataset
from medseg.losses import create_loss
from medseg.models import count_parameters, create_model

MODELS = ("mobile_unet", "unet", "res_unet", "unet_plus_plus")
KVASIR_TRAIN_IMAGES = 640
TINY = {
    "mobile_unet": {"filters": 4, "depth": 2, "bridge_blocks": 2},
    "unet": {"channels": [4, 8, 16]},
    "res_unet": {"channels": [4, 8, 16]},
    "unet_plus_plus": {"channels": [4, 8, 16]},
}


def recipe(name: str, size: int):
    return load_config(f"polyp_{name}", [f"data.image_size=[{size},{size}]"])


def endoscopy_cases(count: int, seed: int = 0) -> list:
    """``count`` generated endoscopy frames (varied sizes, as Kvasir-SEG) read through the Kvasir reader."""
    from medseg.data.phantoms.endoscopy import write_kvasir_dataset

    with tempfile.TemporaryDirectory() as tmp:
        root = write_kvasir_dataset(Path(tmp) / "kvasir", n_images=count, sizes=((384, 512), (288, 384)), seed=seed)
        return read_dataset("kvasir", root)


def step_function(model: torch.nn.Module, config, sync: bool) -> Callable[[torch.Tensor, torch.Tensor], None]:
    """One training step as the trainer does it on CUDA (fp32 on a CPU); ``sync`` adds its two host reads."""
    cuda = next(model.parameters()).is_cuda
    loss_fn = create_loss(config.train.loss, **config.train.loss_params)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cuda", enabled=cuda)
    model.train()

    def step(image: torch.Tensor, mask: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.float16, enabled=cuda):
            output = model(image)
        loss = loss_fn(output, mask)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        if sync:
            loss.item()
            (output.detach() > 0).sum().item()

    return step


def timed(step: Callable, batches: Iterator, steps: int, batch: int) -> float:
    """Images per second over ``steps`` steps after three warm-up steps (cuDNN autotuning, allocator)."""
    for _ in range(3):
        step(*next(batches))
    _synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        step(*next(batches))
    _synchronize()
    return steps * batch / (time.perf_counter() - started)


def _synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def resident(batch: int, size: int, device: torch.device) -> Iterator:
    image = torch.randn(batch, 3, size, size, device=device)
    mask = (torch.rand(batch, 1, size, size, device=device) > 0.8).long()
    while True:
        yield image, mask


def pipeline(cases: list, config, batch: int, workers: int, device: torch.device) -> Iterator:
    dataset = SegmentationDataset(cases, config.data, config.augment)
    sampler = RandomSampler(dataset, replacement=True, num_samples=10**6)
    loader = DataLoader(
        dataset,
        batch_size=batch,
        sampler=sampler,
        num_workers=workers,
        pin_memory=True,
        drop_last=True,
        persistent_workers=workers > 0,
    )
    for item in loader:
        yield item["image"].to(device, non_blocking=True), item["mask"].to(device, non_blocking=True)


def measure(
    size: int, batch: int, steps: int, workers: list[int], cases: int, device: str = "cuda", tiny: bool = False
) -> list[dict]:
    """One row per model: bound, synced bound and pipeline rates (images/s). ``tiny``: toy model sizes."""
    where = torch.device(device)
    torch.backends.cudnn.benchmark = True
    data = endoscopy_cases(cases)
    rows = []
    for name in MODELS:
        config = recipe(name, size)
        params = TINY[name] if tiny else config.model.params
        torch.manual_seed(0)
        model = create_model(config.model.name, in_channels=3, classes=1, **params).to(where)
        row = {"model": name, "parameters": count_parameters(model)}
        row["bound"] = timed(step_function(model, config, sync=False), resident(batch, size, where), steps, batch)
        row["bound_synced"] = timed(step_function(model, config, sync=True), resident(batch, size, where), steps, batch)
        for count in workers:
            batches = pipeline(data, config, batch, count, where)
            row[f"pipeline_{count}"] = timed(step_function(model, config, sync=True), batches, steps, batch)
            del batches
        rows.append(row)
        print(row, flush=True)
    return rows


def section(
    size: int = 256,
    batch: int = 16,
    steps: int = 30,
    workers: tuple[int, ...] = (0, 4, 8),
    cases: int = 48,
    device: str = "cuda",
    tiny: bool = False,
) -> tuple[list[str], float]:
    """Markdown lines of the GPU section and the target's verdict value (worst pipeline / bound).

    ``device="cpu"`` with ``tiny`` only checks that the code runs (the smoke test)."""
    rows = measure(size, batch, steps, list(workers), cases, device, tiny)
    where = torch.cuda.get_device_name(0) if device == "cuda" else device
    best_workers = max(workers)
    lines = [
        f"{where}, PyTorch {torch.__version__}, {os.cpu_count()} CPU cores. Polyp recipes at "
        f"{size}x{size}, batch {batch}, fp16 autocast; images/s over {steps} steps after 3 warm-up steps. "
        "Bound: one GPU-resident batch, no host reads. Synced: plus the trainer's two host reads per step. "
        "Pipeline: the recipe's augmentation in W loader processes (generated endoscopy frames), pinned memory.",
        "",
        "| model | parameters | bound img/s | synced img/s | "
        + " | ".join(f"pipeline W={w} img/s" for w in workers)
        + f" | pipeline W={best_workers} / bound | s per Kvasir epoch (640 images) |",
        "|---|---|---|---|" + "---|" * len(workers) + "---|---|",
    ]
    worst = float("inf")
    for row in rows:
        ratio = row[f"pipeline_{best_workers}"] / row["bound"]
        worst = min(worst, ratio)
        lines.append(
            f"| {row['model']} | {row['parameters']:,} | {row['bound']:.0f} | {row['bound_synced']:.0f} | "
            + " | ".join(f"{row[f'pipeline_{w}']:.0f}" for w in workers)
            + f" | {ratio:.2f} | {KVASIR_TRAIN_IMAGES / row[f'pipeline_{best_workers}']:.1f} |"
        )
    return lines, worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS_GPU.md"))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 4, 8])
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: nothing measured")
        return
    lines, worst = section(args.size, args.batch, args.steps, tuple(args.workers))
    command = "python -m bench.gpu " + " ".join(sys.argv[1:])
    page = [
        "# GPU benchmark",
        "",
        f"Written by `{command}` on {time.strftime('%Y-%m-%d')}.",
        "",
        *lines,
        "",
        f"Worst pipeline / bound: {worst:.2f} (target >= 0.80).",
        "",
    ]
    args.out.write_text("\n".join(page))
    print("\n".join(page))


if __name__ == "__main__":
    main()
