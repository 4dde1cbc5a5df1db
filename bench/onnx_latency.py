"""ONNX Runtime vs PyTorch eager: CPU latency per image at batch 1 for every registered model.

Each model is built by its factory in its paper's configuration (as ``medseg models`` does), exported
with :func:`torch.onnx.export` (TorchScript exporter, opset 17, dynamic batch and size, as
``medseg export`` does) and timed on the same random input. Prints a Markdown table.

    python bench/onnx_latency.py [--size 256] [--threads 1] [--repeats 5] [--model unet ...] [--config hc18_unet ...]
"""

from __future__ import annotations

import argparse
import inspect
import io
import statistics
import sys
import time
import warnings

import numpy as np
import torch

from medseg.config import load_config
from medseg.inference.onnx_backend import OnnxNetwork
from medseg.models import MODELS, create_model, output_channels


def onnx_bytes(model: torch.nn.Module, sample: torch.Tensor) -> bytes:
    axes = {0: "batch", 2: "height", 3: "width"}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (sample,),
            buffer,
            dynamo=False,
            opset_version=17,
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": axes, "logits": axes},
        )
    return buffer.getvalue()


def interleaved_latency(
    model: torch.nn.Module, network: OnnxNetwork, image: torch.Tensor, repeats: int
) -> tuple[float, float]:
    """Median wall times in ms of PyTorch eager and ONNX Runtime, run alternately after one warm-up each.

    Alternating keeps both runtimes under the same background load on a shared machine.
    """
    array = image.numpy()
    eager, ort = [], []
    with torch.no_grad():
        model(image)
        network.run(array)
        for _ in range(repeats):
            started = time.perf_counter()
            model(image)
            eager.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            network.run(array)
            ort.append((time.perf_counter() - started) * 1000)
    return statistics.median(eager), statistics.median(ort)


def default(factory, name: str, fallback: int) -> int:
    parameter = inspect.signature(factory).parameters.get(name)
    return fallback if parameter is None or parameter.default is inspect.Parameter.empty else int(parameter.default)


def bench(model: torch.nn.Module, in_channels: int, size: tuple[int, int], threads: int, repeats: int) -> tuple:
    """(eager ms, ONNX Runtime ms, max abs logit difference) for one model at batch 1."""
    model = model.eval()
    image = torch.randn(1, in_channels, *size)
    sample = torch.randn(1, in_channels, *(s + 1 - s % 2 for s in size))  # odd: keeps the padding branch
    network = OnnxNetwork(onnx_bytes(model, sample), threads=threads)
    with torch.no_grad():
        diff = float(np.abs(network.run(image.numpy()) - model(image).numpy()).max())
    return (*interleaved_latency(model, network, image, repeats), diff)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="side of the square image (paper configurations)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for both runtimes")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs (median reported)")
    parser.add_argument("--model", action="append", help="only these models (repeatable)")
    parser.add_argument(
        "--config", action="append", default=[], help="also a packaged config's model at its image size (repeatable)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    jobs = []
    for name in args.model or MODELS.names():
        factory = MODELS.get(name)
        torch.manual_seed(0)
        in_channels = default(factory, "in_channels", 1)
        jobs.append((f"{name} (paper)", factory(), in_channels, (args.size, args.size)))
    for config_name in args.config:
        config = load_config(config_name)
        classes = output_channels(config.data.num_classes, config.model.out_channels)
        torch.manual_seed(0)
        model = create_model(config.model.name, config.data.channels, classes, **config.model.params)
        jobs.append(
            (f"{config.model.name} ({config_name})", model, config.data.channels, tuple(config.data.image_size))
        )
    rows = []
    for label, model, in_channels, size in jobs:
        eager, ort, diff = bench(model, in_channels, size, args.threads, args.repeats)
        rows.append((label, f"{in_channels}x{size[0]}x{size[1]}", eager, ort, eager / ort, diff))
        print(f"  {label}: eager {eager:.1f} ms, ONNX Runtime {ort:.1f} ms", file=sys.stderr, flush=True)
    print(f"\nCPU, batch 1, {args.threads} thread(s), median of {args.repeats} alternating runs after one warm-up\n")
    print("| model (configuration) | input | PyTorch eager ms | ONNX Runtime ms | speed-up | max abs logit diff |")
    print("|---|---|---:|---:|---:|---:|")
    for label, shape, eager, ort, ratio, diff in rows:
        print(f"| {label} | {shape} | {eager:.1f} | {ort:.1f} | {ratio:.2f}x | {diff:.1e} |")


if __name__ == "__main__":
    main()
