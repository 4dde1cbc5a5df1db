"""Training cost of the polyp study's models: CPU seconds per training step, and per epoch estimated.

Builds each model as its recipe states (``polyp_<model>``), then times full training steps (forward,
BCE + Dice loss, backward, Adam) on random batches on one CPU thread. Process CPU time is reported
beside wall time: on a shared machine the wall time depends on the other jobs, the CPU time much less.

    python bench/polyp_training_cost.py [--size 256] [--batch 2] [--steps 1] [--images 640] [--threads 1]
        [--channels-last] [--bf16]
"""

from __future__ import annotations

import argparse
import time

import torch

from medseg.config import load_config
from medseg.experiments.studies.polyp_design import MODELS
from medseg.losses import create_loss
from medseg.models import count_parameters, create_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--images", type=int, default=640, help="training images per epoch (Kvasir-SEG: 640)")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--channels-last", action="store_true", help="model and batch in channels-last memory format")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast, as train.cpu_bf16")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    layout = torch.channels_last if args.channels_last else torch.contiguous_format
    for name in args.models.split(","):
        config = load_config(f"polyp_{name}")
        torch.manual_seed(0)
        model = create_model(config.model.name, in_channels=3, classes=1, **config.model.params)
        model = model.to(memory_format=layout)
        loss_fn = create_loss(config.train.loss, **config.train.loss_params)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        images = torch.randn(args.batch, 3, args.size, args.size).contiguous(memory_format=layout)
        masks = (torch.rand(args.batch, 1, args.size, args.size) > 0.8).long()
        cpu, wall = 0.0, 0.0
        for step in range(args.steps + 1):  # the first step warms up and is not timed
            cpu0, wall0 = time.process_time(), time.perf_counter()
            optimizer.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                outputs = model(images)
            loss_fn(outputs.float(), masks).backward()
            optimizer.step()
            if step:
                cpu += time.process_time() - cpu0
                wall += time.perf_counter() - wall0
        per_image_cpu = cpu / (args.steps * args.batch)
        print(
            f"{name:15s} {count_parameters(model):>10,} parameters  {args.size}x{args.size}: "
            f"{per_image_cpu:.3f} CPU s/image -> {per_image_cpu * args.images / 60:.1f} CPU min/epoch of "
            f"{args.images} images (wall {wall / (args.steps * args.batch):.3f} s/image here)",
            flush=True,
        )


if __name__ == "__main__":
    main()
