"""``python -m bench`` (or ``make bench``): speed measured side by side, written to BENCHMARKS.md.

Every ratio compares two figures measured in the same run, interleaved, on this machine.

    python -m bench [--out BENCHMARKS.md] [--threads N] [--quick] [--hc18 DATA]

``--hc18 DATA`` puts first the time to an accurate fetal-head model (:mod:`bench.time_to_accuracy`):
today's ``hc18_unet`` recipe (float32, 45 epochs) beside ``hc18_unet_fast`` (bfloat16, channels-last,
compiled, 48 epochs, the first 20 on 224x160 batches), trained side by side until their validation Dice
reaches the first run's, then scored on the held-out test split with the test-time flips and scales
both recipes name.

``--quick`` runs every section at toy sizes (seconds): a smoke test, not a measurement.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from bench import roofline, speed
from medseg.models import MODELS


@dataclass(frozen=True)
class Settings:
    train_sizes: tuple[int, ...] = (128, 256)
    batch: int = 8
    train_steps: int = 10
    rounds: int = 3
    pipeline_batches: int = 40
    latency_size: int = 256
    latency_batches: tuple[int, ...] = (1, 8)
    latency_repeats: int = 3
    models: tuple[str, ...] | None = None  # None: every registered model
    peak_sizes: tuple[int, ...] = roofline.PEAK_SIZES
    growth_sizes: tuple[int, ...] = (128, 256, 512)
    epoch_counts: tuple[int, ...] = (200, 400, 800)
    epoch_size: int = 128
    cases: int = 64


QUICK = Settings(
    train_sizes=(32,),
    batch=2,
    train_steps=1,
    rounds=1,
    pipeline_batches=2,
    latency_size=32,
    latency_batches=(1, 2),
    latency_repeats=1,
    models=("mobile_unet",),
    peak_sizes=(64,),
    growth_sizes=(32, 64),
    epoch_counts=(4, 8),
    epoch_size=32,
    cases=8,
)


def _verdict(value: float, target: float) -> str:
    if value >= target:
        return f"met ({value:.2f} >= {target})"
    return f"missed by {target - value:.2f} ({value:.2f} < {target})"


def run(settings: Settings, threads: int, headline: list[str] | None = None) -> str:
    """Runs every section and returns the Markdown page (``headline``: a section to put first)."""
    torch.set_num_threads(threads)
    started = time.perf_counter()
    lines = [
        "# Benchmarks",
        "",
        f"Measured by `python -m bench` on {time.strftime('%Y-%m-%d')}: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPU cores, {threads} torch threads, PyTorch {torch.__version__}, "
        f"{'CUDA ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA device'}. "
        "Each ratio compares figures from this one run, interleaved; absolute figures swing with the host's load.",
        "",
    ]
    peaks = roofline.peaks(settings.peak_sizes)
    peak = peaks["float32"]["gflops_per_s"]
    lines += [
        f"Matrix-product peaks (`torch.mm`, see [Roofline](#roofline)): float32 **{peak:.1f} GFLOP/s**, "
        f"bfloat16 **{peaks['bfloat16']['gflops_per_s']:.1f} GFLOP/s**. Shares below are of the peak of the "
        "precision the work runs in (float32 unless said).",
        "",
    ]
    if headline:
        lines += [*headline, ""]
    targets: list[tuple[str, str]] = []

    lines += [
        "## Training throughput: medseg vs MONAI (forward + backward + Adam step, real data pipeline)",
        "",
        f"Channels {speed.SMALL_UNET}, batch {settings.batch}, Dice+CE, synthetic fetal heads through the "
        "`demo` augmentation; median images/s over "
        f"{settings.rounds} interleaved rounds of {settings.train_steps} steps. MONAI: `UNet(num_res_units=2)` and "
        "`AttentionUnet` with the same channels and strides 2, and for the U-Net also `BasicUNet` with the same "
        "features: the original U-Net layout (two 3x3 convolutions per level, max-pooling), which medseg's "
        "`unet` follows. MONAI's `UNet` downsamples with strided convolutions and so does less work per image "
        "(GFLOPs column: forward, per image); img/s per forward GFLOP compares the implementations.",
        "",
        "| network | size | medseg img/s | MONAI img/s | medseg / MONAI | GFLOPs medseg / MONAI | "
        "medseg / MONAI per GFLOP | parameters medseg / MONAI |",
        "|---|---|---|---|---|---|---|---|",
    ]
    cases = {size: speed.synthetic_cases(settings.cases, size) for size in settings.train_sizes}
    worst_ratio = worst_same_layout = float("inf")
    training_rate = {}
    for name in ("unet", "attention_unet"):
        for size in settings.train_sizes:
            result = speed.compare_training(
                name, size, settings.batch, settings.train_steps, settings.rounds, cases[size]
            )
            training_rate[(name, size)] = result["medseg"]
            if name == "unet":
                worst_ratio = min(worst_ratio, result["ratio"])
                worst_same_layout = min(worst_same_layout, result["basic_ratio"])
            comparisons = [("monai", name)] + ([("basic", "unet (MONAI BasicUNet)")] if "basic" in result else [])
            for key, label in comparisons:
                ratio = result["medseg"] / result[key]
                per_flop = ratio * result["medseg_gflops"] / result[f"{key}_gflops"]
                lines.append(
                    f"| {label} | {size} | {result['medseg']:.1f} | {result[key]:.1f} | {ratio:.2f} | "
                    f"{result['medseg_gflops']:.2f} / {result[f'{key}_gflops']:.2f} | {per_flop:.2f} | "
                    f"{result['medseg_parameters']:,} / {result[f'{key}_parameters']:,} |"
                )
    targets.append(("medseg U-Net training >= 1.0x MONAI's BasicUNet (same layout)", _verdict(worst_same_layout, 1.0)))
    targets.append(
        ("medseg U-Net training >= 1.0x MONAI's UNet (strided: less work per image)", _verdict(worst_ratio, 1.0))
    )

    lines += [
        "",
        "## Data pipeline alone vs what training consumes",
        "",
        "Augmentation + collation of the training loader with one worker and no model, against the "
        "medseg U-Net's training rate at the same size.",
        "",
        "| size | pipeline img/s (1 worker) | training img/s | pipeline / training |",
        "|---|---|---|---|",
    ]
    worst_loader = float("inf")
    for size in settings.train_sizes:
        rate = speed.pipeline_rate(cases[size], size, settings.batch, settings.pipeline_batches)
        ratio = rate / training_rate[("unet", size)]
        worst_loader = min(worst_loader, ratio)
        lines.append(f"| {size} | {rate:.1f} | {training_rate[('unet', size)]:.1f} | {ratio:.1f} |")
    targets.append(("loader >= 3x what training consumes", _verdict(worst_loader, 3.0)))

    names = list(settings.models or MODELS.names())
    lines += [
        "",
        f"## Inference latency per image at {settings.latency_size}x{settings.latency_size} (paper configurations)",
        "",
        f"Median of {settings.latency_repeats} interleaved runs; ONNX Runtime CPU provider, exported as "
        "`medseg export` does (opset 17, dynamic batch and size), the same thread count.",
        "",
        "| model | GFLOPs | batch | eager ms | channels-last ms | ONNX Runtime ms | eager / ONNX | "
        "ONNX Runtime GFLOP/s (share of float32 peak) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    ort_batch1, eager_share = {}, {}
    for name in names:
        result = speed.inference_latencies(
            name, settings.latency_size, list(settings.latency_batches), settings.latency_repeats, threads
        )
        for batch in settings.latency_batches:
            row = result[batch]
            speedup = row["eager_ms"] / row["onnx_ms"]
            if batch == settings.latency_batches[0]:
                ort_batch1[name] = speedup
                eager_share[name] = result["gflops"] / (row["eager_ms"] / 1000) / peak
            achieved = result["gflops"] / (row["onnx_ms"] / 1000)
            lines.append(
                f"| {name} | {result['gflops']:.2f} | {batch} | {row['eager_ms']:.1f} | "
                f"{row['channels_last_ms']:.1f} | {row['onnx_ms']:.1f} | {speedup:.2f} | "
                f"{achieved:.0f} ({roofline.share_text(achieved, peak)}) |"
            )
    bound = sorted(name for name, speedup in ort_batch1.items() if speedup < 1.5 and eager_share[name] >= 1 / 1.5)
    if bound:
        lines += [
            "",
            "Compute-bound at batch 1 (eager already at "
            + ", ".join(f"{name} {eager_share[name]:.0%}" for name in bound)
            + " of the float32 matrix-product peak): 1.5x faster than eager would need more than the peak, so no "
            "runtime can meet the ONNX target for these; what remains is the convolution kernels' efficiency.",
        ]
    lines += [
        "",
        "Share of the float32 peak that 1.5x eager would need at batch 1: "
        + ", ".join(f"{name} {1.5 * share:.0%}" for name, share in sorted(eager_share.items()))
        + ".",
    ]
    unet_family = {k: v for k, v in ort_batch1.items() if "unet" in k}
    if unet_family:
        worst = min(unet_family, key=unet_family.get)
        targets.append(
            (f"ONNX Runtime >= 1.5x eager at batch 1 (U-Net family; worst: {worst})", _verdict(unet_family[worst], 1.5))
        )

    measured = roofline.measure(
        settings.latency_size, settings.train_sizes[0], settings.batch, max(2, settings.latency_repeats), peaks
    )
    share = roofline.inference_share(measured)
    lines += ["", *roofline.section(measured, threads, roofline.cpu_flags())]
    targets.append(("small U-Net inference (float32) at >= 40% of the float32 matmul peak", _verdict(share, 0.4)))

    lines += [
        "",
        "## Cost growth",
        "",
        f"Small U-Net training (batch {settings.batch}, resident tensors), a fresh process per size: time and peak "
        "resident memory.",
        "",
        "| size | ms per image | ms per image / pixels vs the smallest | peak memory MB |",
        "|---|---|---|---|",
    ]
    base = None
    for size in settings.growth_sizes:
        cost = speed.training_cost_at(size, settings.batch, threads)
        per_pixel = cost["ms_per_image"] / size**2
        base = base or per_pixel
        lines.append(f"| {size} | {cost['ms_per_image']:.1f} | {per_pixel / base:.2f} | {cost['peak_mb']:.0f} |")
    lines += [
        "",
        f"Epoch time at {settings.epoch_size}x{settings.epoch_size} (small U-Net, real pipeline):",
        "",
        "| images | seconds | seconds per 100 images |",
        "|---|---|---|",
    ]
    epoch_cases = speed.synthetic_cases(max(settings.epoch_counts), settings.epoch_size)
    for count in settings.epoch_counts:
        seconds = speed.epoch_seconds(epoch_cases[:count], settings.epoch_size, settings.batch)
        lines.append(f"| {count} | {seconds:.1f} | {100 * seconds / count:.2f} |")

    lines += ["", "## GPU: training through the data pipeline vs the model-step bound", ""]
    if torch.cuda.is_available():
        from bench import gpu

        gpu_lines, worst_gpu = gpu.section(steps=max(5, settings.train_steps * 3))
        lines += gpu_lines
        targets.append(("GPU training >= 80% of the model-step bound (worst model)", _verdict(worst_gpu, 0.8)))
    else:
        lines.append(
            "No CUDA device on this machine. `python -m bench.gpu` measures this section where there is one; "
            "its last run is in [BENCHMARKS_GPU.md](BENCHMARKS_GPU.md)."
        )

    lines += ["", "## Targets", "", "| target | result |", "|---|---|"]
    lines += [f"| {name} | {verdict} |" for name, verdict in targets]
    lines += ["", f"Whole benchmark: {(time.perf_counter() - started) / 60:.1f} min.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--quick", action="store_true", help="toy sizes: checks that every section runs")
    parser.add_argument(
        "--hc18",
        type=Path,
        help="the HC18 dataset: first time the fetal-head recipes to their accuracy, hc18_unet beside hc18_unet_fast "
        "(bench.time_to_accuracy: two full trainings side by side)",
    )
    args = parser.parse_args()
    headline = None
    if args.hc18 is not None or args.quick:
        from bench import time_to_accuracy

        work = Path(tempfile.mkdtemp(prefix="medseg-time-to-accuracy-")) / "runs"
        recipes = ["--run", "today=hc18_unet", "--run", "fast=hc18_unet_fast", "--evaluate=--tta --scales 1,1.1,1.2"]
        source = ["--quick"] if args.quick else ["--data", str(args.hc18), *recipes]
        headline = time_to_accuracy.main(["--out", str(work), *source])
    page = run(QUICK if args.quick else Settings(), args.threads, headline)
    args.out.write_text(page)
    print(page)


if __name__ == "__main__":
    main()
