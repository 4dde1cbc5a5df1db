"""Time of the boundary loss's distance term: MONAI's ``HausdorffDTLoss`` (SciPy distance transforms)
against medseg's ``HausdorffDTLoss2D`` (OpenCV's), forward + backward on a batch of head-like
ellipse masks, one thread, best of ``--repeats``; and the largest difference of their values.

    python bench/boundary_loss_speed.py [--batch 8] [--size 224 320] [--repeats 10]
"""

from __future__ import annotations

import argparse
import time

import torch
from monai.losses import HausdorffDTLoss

from medseg.losses import HausdorffDTLoss2D


def best_ms(loss: torch.nn.Module, logits: torch.Tensor, target: torch.Tensor, repeats: int) -> float:
    """Best wall time (ms) of ``loss(logits, target).backward()`` over ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        loss(logits, target).backward()
        times.append(time.perf_counter() - started)
    return 1e3 * min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, nargs=2, default=[224, 320], metavar=("H", "W"))
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    height, width = args.size
    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    head = (((cols - width / 2) / (0.3 * width)) ** 2 + ((rows - height / 2) / (0.3 * height)) ** 2 <= 1).long()
    target = head[None, None].repeat(args.batch, 1, 1, 1)
    noise = torch.randn(args.batch, 2, height, width, generator=torch.Generator().manual_seed(0))
    logits = (noise + 4 * torch.cat([1 - 2 * target, 2 * target - 1], dim=1)).requires_grad_()
    options = {"include_background": False, "to_onehot_y": True, "softmax": True}
    monai_loss, medseg_loss = HausdorffDTLoss(**options), HausdorffDTLoss2D(**options)
    difference = abs(monai_loss(logits, target).item() - medseg_loss(logits, target).item())
    print(f"batch {args.batch} x {height}x{width}, one thread, best of {args.repeats}:")
    print(f"  MONAI HausdorffDTLoss (SciPy): {best_ms(monai_loss, logits, target, args.repeats):.1f} ms")
    print(f"  medseg HausdorffDTLoss2D (OpenCV): {best_ms(medseg_loss, logits, target, args.repeats):.1f} ms")
    print(f"  |difference of the loss values|: {difference:.2e}")


if __name__ == "__main__":
    main()
