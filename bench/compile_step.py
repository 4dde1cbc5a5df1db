"""Training step of a recipe's network, eager beside ``torch.compile``: seconds per step and compile time.

Builds the recipe's model, then times full training steps (forward under the recipe's autocast, loss,
backward, Adam) on random batches of the recipe's input size, first eager, then compiled (Inductor).
The first compiled step includes the compilation; Inductor caches compiled code under ``/tmp``, so a
second run of this script compiles faster than the first.

    python bench/compile_step.py [--recipe hc18_unet_fast] [--steps 6] [--threads 2] [--float32]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from medseg.config import load_config
from medseg.losses import create_loss
from medseg.models import create_model
from medseg.models.outputs import output_channels


def time_steps(model: torch.nn.Module, forward, batch: tuple[torch.Tensor, torch.Tensor], steps: int, bf16: bool):
    """Seconds of the first step and of each later one."""
    loss_fn = create_loss("dice_ce")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    images, masks = batch
    seconds = []
    for _ in range(steps + 1):
        started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            outputs = forward(images)
        loss_fn(outputs.float(), masks).backward()
        optimizer.step()
        seconds.append(time.perf_counter() - started)
    return seconds[0], seconds[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="hc18_unet_fast")
    parser.add_argument("--steps", type=int, default=6, help="timed steps after the first")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--float32", action="store_true", help="no bfloat16 autocast, whatever the recipe says")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = load_config(args.recipe)
    bf16 = config.train.cpu_bf16 and not args.float32
    layout = torch.channels_last if config.train.channels_last else torch.contiguous_format
    height, width = config.data.image_size
    size = config.train.batch_size
    images = torch.randn(size, config.data.channels, height, width).contiguous(memory_format=layout)
    masks = torch.randint(0, config.data.num_classes, (size, 1, height, width))
    classes = output_channels(config.data.num_classes, config.model.out_channels)
    print(
        f"{args.recipe}: {config.model.name} at {height}x{width}, batch {size}, {args.threads} threads, "
        f"{'bfloat16' if bf16 else 'float32'}, {'channels-last' if config.train.channels_last else 'NCHW'}"
    )
    for compiled in (False, True):
        torch.manual_seed(0)
        model = create_model(
            config.model.name, in_channels=config.data.channels, classes=classes, **config.model.params
        )
        model = model.to(memory_format=layout).train()
        forward = torch.compile(model) if compiled else model
        first, rest = time_steps(model, forward, (images, masks), args.steps, bf16)
        name, median = "compiled" if compiled else "eager", statistics.median(rest)
        print(
            f"  {name:8s}: first step {first:.1f} s, then {median:.3f} s per step "
            f"(median of {len(rest)}; min {min(rest):.3f})"
        )


if __name__ == "__main__":
    main()
