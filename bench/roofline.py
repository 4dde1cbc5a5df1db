"""Roofline: the matrix-product peak of each precision this CPU offers, and the small U-Net against it.

``python -m bench.roofline [--threads N] [--write BENCHMARKS.md]`` measures only this section (about a
minute) and, with ``--write``, replaces the ``## Roofline`` section of that page.

A share of a peak compares a workload with the peak of the precision it runs in: float32 work with
the float32 ``torch.mm`` peak, bfloat16 autocast work with the bfloat16 one (oneDNN's AMX kernels where
the CPU has ``amx_bf16``, AVX512-BF16 instructions where it has only ``avx512_bf16``). Which kernels run
depends on the CPU flags, so the page names the flags each figure depends on.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from medseg.device import cpu_flags, cpu_name

PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16}
# the CPU flags whose kernels each precision's products run on (oneDNN picks the best one present)
PRECISION_FLAGS = {
    "float32": ("avx2", "fma", "avx512f"),
    "bfloat16": ("avx512f", "avx512_bf16", "amx_tile", "amx_bf16"),
}
PEAK_SIZES = (2048, 3072, 4096)
HEADING = "## Roofline"


def precision_flags(precision: str, flags: set[str]) -> list[str]:
    """The flags of :data:`PRECISION_FLAGS` that ``precision``'s kernels may use and this CPU has."""
    return [flag for flag in PRECISION_FLAGS[precision] if flag in flags]


def bfloat16_kernels(flags: set[str]) -> str:
    """What runs bfloat16 products on a CPU with ``flags``: AMX tiles, AVX512-BF16, or a conversion to
    float32 (no native bfloat16 arithmetic: slower than float32)."""
    if {"amx_tile", "amx_bf16"} <= flags:
        return "AMX tiles (amx_bf16)"
    if "avx512_bf16" in flags:
        return "AVX512-BF16"
    return "no native bfloat16: converted to float32"


def share(achieved: float, peak: float) -> float:
    """``achieved / peak`` (GFLOP/s of a workload over the peak of its precision).

    Raises:
        ValueError: a peak that is not positive.
    """
    if not peak > 0:
        raise ValueError(f"peak must be positive, got {peak}")
    return achieved / peak


def share_text(achieved: float, peak: float) -> str:
    """``"42%"``; above 100% the peak was measured too low (a loaded host) and the text says so."""
    ratio = share(achieved, peak)
    return f"{ratio:.0%}" if ratio <= 1 else f"{ratio:.0%} (above the measured peak: the peak run was slowed)"


def matmul_peak(precision: str, sizes: tuple[int, ...] = PEAK_SIZES, repeats: int = 5) -> dict[str, float]:
    """Best ``torch.mm`` rate (GFLOP/s) of square ``precision`` matrices over ``sizes``, best of ``repeats``.

    Returns:
        ``{"gflops_per_s": best rate, "size": the size that reached it}``.
    """
    dtype = PRECISIONS[precision]
    best, best_size = 0.0, 0
    for n in sizes:
        a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
        torch.mm(a, b)  # warm-up: kernel selection, packing buffers
        for _ in range(repeats):
            started = time.perf_counter()
            torch.mm(a, b)
            rate = 2 * n**3 / (time.perf_counter() - started) / 1e9
            if rate > best:
                best, best_size = rate, n
    return {"gflops_per_s": best, "size": best_size}


@contextlib.contextmanager
def autocast(precision: str) -> Iterator[None]:
    """bfloat16: ``torch.autocast("cpu", dtype=torch.bfloat16)``; float32: nothing."""
    if precision == "float32":
        yield
        return
    with torch.autocast("cpu", dtype=PRECISIONS[precision]):
        yield


def inference_rate(model: torch.nn.Module, image: torch.Tensor, precision: str, repeats: int) -> float:
    """Best seconds of one eager forward pass under ``torch.inference_mode`` in ``precision``."""
    model.eval()
    best = float("inf")
    with torch.inference_mode(), autocast(precision):
        model(image)
        for _ in range(repeats):
            started = time.perf_counter()
            model(image)
            best = min(best, time.perf_counter() - started)
    return best


def training_rate(model: torch.nn.Module, batch: int, size: int, precision: str, steps: int) -> float:
    """Best seconds of one training step (forward + backward + Adam, Dice+CE, resident batch) in ``precision``."""
    from medseg.losses import create_loss

    loss_fn = create_loss("dice_ce")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    image = torch.randn(batch, 1, size, size)
    mask = (torch.rand(batch, 1, size, size) > 0.5).long()
    model.train()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast(precision):
            loss = loss_fn(model(image), mask)
        loss.backward()
        optimizer.step()

    step()
    best = float("inf")
    for _ in range(steps):
        started = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - started)
    return best


def peaks(sizes: tuple[int, ...] = PEAK_SIZES) -> dict[str, dict[str, float]]:
    """:func:`matmul_peak` of every precision of :data:`PRECISIONS`."""
    return {precision: matmul_peak(precision, sizes) for precision in PRECISIONS}


def measure(
    inference_size: int = 256,
    training_size: int = 128,
    batch: int = 8,
    repeats: int = 3,
    measured_peaks: dict[str, dict[str, float]] | None = None,
) -> dict[str, dict[str, float]]:
    """Peaks of each precision (``measured_peaks``, else measured now) and the small U-Net's inference
    and training rates in each.

    Returns:
        ``{"peaks": {precision: {"gflops_per_s", "size"}}, "inference": {...}, "training": {...}}``; the
        workload entries hold ``gflop`` (per pass or step) and ``<precision>_seconds``.
    """
    from bench.speed import SMALL_UNET, medseg_model
    from medseg.models.profile import count_flops

    result: dict = {"peaks": measured_peaks or peaks()}
    torch.manual_seed(0)
    model = medseg_model("unet", SMALL_UNET)
    image = torch.randn(batch, 1, inference_size, inference_size)
    inference = {"gflop": count_flops(model.eval(), image) / 1e9}
    training = {"gflop": 3 * count_flops(model.eval(), torch.randn(batch, 1, training_size, training_size)) / 1e9}
    for precision in PRECISIONS:  # the same weights for each precision: inference first, then training
        inference[f"{precision}_seconds"] = inference_rate(model, image, precision, repeats)
    for precision in PRECISIONS:
        torch.manual_seed(0)
        fresh = medseg_model("unet", SMALL_UNET)
        training[f"{precision}_seconds"] = training_rate(fresh, batch, training_size, precision, repeats)
    result["inference"], result["training"] = inference, training
    result["sizes"] = {"inference": inference_size, "training": training_size, "batch": batch}
    return result


def section(measured: dict, threads: int, flags: set[str]) -> list[str]:
    """The ``## Roofline`` section (Markdown lines) of :func:`measure`'s figures."""
    from bench.speed import SMALL_UNET

    peaks = measured["peaks"]
    sizes = measured["sizes"]
    lines = [
        HEADING,
        "",
        f"CPU: {cpu_name()}. Peaks: the best `torch.mm` rate of square matrices "
        f"(sizes {', '.join(map(str, PEAK_SIZES))} in a full run, "
        f"best of 5 each; the table gives the size that reached it) in each precision, {threads} torch "
        "thread(s). A workload's share is of the peak of the precision it runs in. CPU flags present: "
        + (", ".join(f"`{f}`" for f in sorted(set().union(*PRECISION_FLAGS.values()) & flags)) or "none read")
        + ".",
        "",
        "| precision | peak GFLOP/s | at size | kernels (flags it depends on) |",
        "|---|---|---|---|",
    ]
    for precision, peak in peaks.items():
        used = ", ".join(f"`{f}`" for f in precision_flags(precision, flags)) or "none of the listed"
        kernels = bfloat16_kernels(flags) if precision == "bfloat16" else "FMA (AVX-512 where present)"
        lines.append(f"| {precision} | {peak['gflops_per_s']:.1f} | {peak['size']} | {kernels} ({used}) |")
    lines += [
        "",
        f"Small U-Net ({SMALL_UNET}), eager, float32 and `torch.autocast('cpu', dtype=torch.bfloat16)` side by "
        f"side: inference of a batch of {sizes['batch']} at {sizes['inference']}x{sizes['inference']}, and a "
        f"training step (forward + backward + Adam, Dice+CE, resident batch of {sizes['batch']}) at "
        f"{sizes['training']}x{sizes['training']}, counted as 3x the forward FLOPs. Best of the repeats.",
        "",
        "| workload | GFLOP | float32 ms | float32 GFLOP/s (share of float32 peak) | bfloat16 ms | "
        "bfloat16 GFLOP/s (share of bfloat16 peak) | bfloat16 speed-up |",
        "|---|---|---|---|---|---|---|",
    ]
    for workload in ("inference", "training"):
        row = measured[workload]
        cells = []
        for precision in PRECISIONS:
            seconds = row[f"{precision}_seconds"]
            achieved = row["gflop"] / seconds
            cells.append(
                f"{seconds * 1000:.0f} | {achieved:.1f} ({share_text(achieved, peaks[precision]['gflops_per_s'])})"
            )
        speedup = row["float32_seconds"] / row["bfloat16_seconds"]
        lines.append(f"| {workload} | {row['gflop']:.1f} | {' | '.join(cells)} | {speedup:.2f} |")
    return lines


def inference_share(measured: dict) -> float:
    """The small U-Net's float32 inference rate as a share of the float32 peak."""
    row = measured["inference"]
    return share(row["gflop"] / row["float32_seconds"], measured["peaks"]["float32"]["gflops_per_s"])


def replace_section(page: str, lines: list[str], heading: str = HEADING, before: str = "## Targets") -> str:
    """``page`` with its ``heading`` section (up to the next ``## ``) replaced by ``lines``; a page
    without one gets it inserted before its ``before`` section, else appended."""
    new = "\n".join(lines) + "\n"
    start = page.find(heading + "\n")
    if start < 0:
        at = page.find("\n" + before + "\n")
        if at >= 0:
            return page[: at + 1] + new + "\n" + page[at + 1 :]
        return page.rstrip("\n") + "\n\n" + new
    end = page.find("\n## ", start + len(heading))
    return page[:start] + new + (page[end:] if end >= 0 else "")


def print_and_write(lines: list[str], page: Path | None, heading: str) -> list[str]:
    """Prints a section and, when ``page`` is given, replaces that section of the Markdown page."""
    print("\n".join(lines))
    if page is not None:
        page.write_text(replace_section(page.read_text(), lines, heading))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--write", type=Path, help="replace the Roofline section of this page")
    parser.add_argument("--quick", action="store_true", help="toy sizes: checks that it runs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load = os.getloadavg()
    measured = measure(32, 32, 2, 1, peaks((64,))) if args.quick else measure()
    lines = section(measured, args.threads, cpu_flags())
    after = os.getloadavg()
    lines += [
        "",
        f"Measured by `python -m bench.roofline --threads {args.threads}` on {time.strftime('%Y-%m-%d %H:%M %Z')}; "
        f"load average (1 min) {load[0]:.2f} before, {after[0]:.2f} after, on {os.cpu_count()} CPU cores.",
    ]
    if args.write:
        args.write.write_text(replace_section(args.write.read_text(), lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
