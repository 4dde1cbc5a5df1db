"""Speed measurements: each returns plain numbers, measured on the machine it runs on.

Comparisons are interleaved (A, B, A, B, ...) and summarised by their medians, so a noisy host
shifts both sides of a ratio alike.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, RandomSampler

from bench.onnx_latency import onnx_bytes
from medseg.config import load_config
from medseg.data.dataset import SegmentationDataset
from medseg.data.phantoms.fetal_head import write_fetal_head_dataset
from medseg.data.readers import read_dataset
from medseg.inference.onnx_backend import OnnxNetwork
from medseg.losses import create_loss
from medseg.models import MODELS, create_model
from medseg.models.profile import count_flops

SMALL_UNET = [16, 32, 64, 128, 256]


def synthetic_cases(count: int, size: int, seed: int = 0) -> list:
    """``count`` synthetic fetal-head cases of ``size`` x ``size * 4/3`` read through the HC18 reader."""
    with tempfile.TemporaryDirectory() as tmp:
        subjects = max(2, int(np.ceil(count / 1.3)))
        root = write_fetal_head_dataset(tmp, n_subjects=subjects, shape=(size, size * 4 // 3), seed=seed)
        cases = read_dataset("hc18", root)
    return (cases * (count // len(cases) + 1))[:count]


def training_loader(cases: list, size: int, batch: int, workers: int = 0, seed: int = 0) -> DataLoader:
    """The training data pipeline of the ``demo`` config (augmentation on) at ``size`` x ``size``."""
    config = load_config("demo", [f"data.image_size=[{size},{size}]", "data.keep_aspect=false"])
    dataset = SegmentationDataset(cases, config.data, config.augment)
    dataset.set_random_state(seed)
    generator = torch.Generator().manual_seed(seed)
    sampler = RandomSampler(dataset, replacement=True, num_samples=10**6, generator=generator)
    return DataLoader(dataset, batch_size=batch, sampler=sampler, num_workers=workers, drop_last=True)


def monai_equivalent(name: str, channels: list[int]) -> torch.nn.Module:
    """MONAI's network of the same family and widths (2D, 1 channel in, 2 classes out).

    ``unet``: MONAI's ``UNet`` (strided convolutions, residual units); ``basic_unet``: MONAI's
    ``BasicUNet``, the original U-Net layout (two 3x3 convolutions per level, max-pooling), the
    same computation as medseg's ``unet``.
    """
    from monai.networks.nets import AttentionUnet, BasicUNet, UNet

    strides = [2] * (len(channels) - 1)
    if name == "unet":
        return UNet(2, 1, 2, channels=channels, strides=strides, num_res_units=2)
    if name == "basic_unet":
        return BasicUNet(2, 1, 2, features=(*channels, channels[0]))
    if name == "attention_unet":
        return AttentionUnet(2, 1, 2, channels=channels, strides=strides)
    raise ValueError(f"no MONAI equivalent for {name}")


def training_gflops(model: torch.nn.Module, size: int) -> float:
    """Forward GFLOPs per image at ``size`` x ``size`` (training costs about three times this)."""
    return count_flops(model, torch.randn(1, 1, size, size)) / 1e9


def medseg_model(name: str, channels: list[int]) -> torch.nn.Module:
    return create_model(name, in_channels=1, classes=2, channels=channels)


def train_step_rate(
    model: torch.nn.Module, batches: Callable[[], tuple[torch.Tensor, torch.Tensor]], steps: int, batch: int
) -> float:
    """Images per second of forward + backward + Adam step; ``batches()`` supplies each step's data."""
    loss_fn = create_loss("dice_ce")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()

    def step() -> None:
        image, mask = batches()
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(image), mask).backward()
        optimizer.step()

    step()  # warm-up: allocator, kernels
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - started)


def loader_batches(loader: DataLoader) -> Callable[[], tuple[torch.Tensor, torch.Tensor]]:
    iterator = iter(loader)

    def next_batch() -> tuple[torch.Tensor, torch.Tensor]:
        item = next(iterator)
        return item["image"], item["mask"]

    return next_batch


def resident_batches(batch: int, size: int) -> Callable[[], tuple[torch.Tensor, torch.Tensor]]:
    """The same pre-made batch every step: the model-step bound without any input pipeline."""
    image = torch.randn(batch, 1, size, size)
    mask = (torch.rand(batch, 1, size, size) > 0.5).long()
    return lambda: (image, mask)


def compare_training(name: str, size: int, batch: int, steps: int, rounds: int, cases: list) -> dict[str, float]:
    """medseg vs MONAI training images/s through the real data pipeline, interleaved ``rounds`` times.

    For ``unet`` MONAI's ``BasicUNet`` (the same layout as medseg's U-Net) is measured too
    (``basic``, ``basic_ratio``). ``*_gflops``: forward GFLOPs per image of each network.
    """
    torch.manual_seed(0)
    models = {"medseg": medseg_model(name, SMALL_UNET), "monai": monai_equivalent(name, SMALL_UNET)}
    if name == "unet":
        models["basic"] = monai_equivalent("basic_unet", SMALL_UNET)
    rates: dict[str, list[float]] = {label: [] for label in models}
    for round_index in range(rounds):
        for label, model in models.items():
            loader = training_loader(cases, size, batch, seed=round_index)
            rates[label].append(train_step_rate(model, loader_batches(loader), steps, batch))
    result = {label: statistics.median(values) for label, values in rates.items()}
    for label, model in models.items():
        result[f"{label}_parameters"] = sum(p.numel() for p in model.parameters())
        result[f"{label}_gflops"] = training_gflops(model, size)
    result["ratio"] = result["medseg"] / result["monai"]
    if "basic" in result:
        result["basic_ratio"] = result["medseg"] / result["basic"]
    return result


def pipeline_rate(cases: list, size: int, batch: int, batches: int) -> float:
    """Images per second of the data pipeline alone (augmentation + collation), one worker, no model."""
    next_batch = loader_batches(training_loader(cases, size, batch))
    next_batch()
    started = time.perf_counter()
    for _ in range(batches):
        next_batch()
    return batches * batch / (time.perf_counter() - started)


def paper_model(name: str) -> tuple[torch.nn.Module, int]:
    """A registered model in its paper configuration (factory defaults) and its input channels."""
    import inspect

    factory = MODELS.get(name)
    parameter = inspect.signature(factory).parameters.get("in_channels")
    in_channels = int(parameter.default) if parameter is not None and parameter.default is not inspect._empty else 1
    torch.manual_seed(0)
    return factory().eval(), in_channels


def eager_latency(model: torch.nn.Module, image: torch.Tensor, repeats: int, channels_last: bool = False) -> float:
    """Median seconds per forward pass under ``torch.inference_mode``."""
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        image = image.contiguous(memory_format=torch.channels_last)
    times = []
    with torch.inference_mode():
        model(image)
        for _ in range(repeats):
            started = time.perf_counter()
            model(image)
            times.append(time.perf_counter() - started)
    if channels_last:
        model.to(memory_format=torch.contiguous_format)
    return statistics.median(times)


def onnx_network(model: torch.nn.Module, in_channels: int, size: int, threads: int) -> OnnxNetwork:
    """The model exported as ``medseg export`` does (dynamic batch and size) in an ONNX Runtime session."""
    sample = torch.randn(1, in_channels, size + 1, size + 1)  # odd: keeps the padding branch in the graph
    return OnnxNetwork(onnx_bytes(model, sample), threads=threads)


def onnx_latency(network: OnnxNetwork, image: np.ndarray, repeats: int) -> float:
    """Median seconds per ONNX Runtime run."""
    network.run(image)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        network.run(image)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def inference_latencies(name: str, size: int, batches: list[int], repeats: int, threads: int) -> dict:
    """Per-image latency (ms) of eager, channels-last and ONNX Runtime for each batch size."""
    model, in_channels = paper_model(name)
    result: dict = {"gflops": count_flops(model, torch.randn(1, in_channels, size, size)) / 1e9}
    network = onnx_network(model, in_channels, size, threads)
    for batch in batches:
        image = torch.randn(batch, in_channels, size, size)
        eager, last, ort = [], [], []
        for _ in range(repeats):  # interleaved
            eager.append(eager_latency(model, image, 1))
            last.append(eager_latency(model, image, 1, channels_last=True))
            ort.append(onnx_latency(network, image.numpy(), 1))
        result[batch] = {
            "eager_ms": statistics.median(eager) * 1000 / batch,
            "channels_last_ms": statistics.median(last) * 1000 / batch,
            "onnx_ms": statistics.median(ort) * 1000 / batch,
        }
    return result


_MEMORY_PROBE = """
import sys, torch
from bench.speed import SMALL_UNET, medseg_model, resident_batches, train_step_rate
torch.set_num_threads(int(sys.argv[3]))
size, batch = int(sys.argv[1]), int(sys.argv[2])
model = medseg_model("unet", SMALL_UNET)
rate = train_step_rate(model, resident_batches(batch, size), 3, batch)
# VmHWM: this process's own peak (ru_maxrss would carry over the parent's from before exec)
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(rate, peak_kb)
"""


def training_cost_at(size: int, batch: int, threads: int) -> dict[str, float]:
    """Training seconds and peak resident memory per image at ``size`` (a fresh process per size)."""
    output = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(size), str(batch), str(threads)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    ).stdout.split()
    rate, max_rss_kb = float(output[-2]), float(output[-1])
    return {"ms_per_image": 1000 / rate, "peak_mb": max_rss_kb / 1024}


def epoch_seconds(cases: list, size: int, batch: int) -> float:
    """One training epoch (every case once) of the small U-Net through the data pipeline."""
    torch.manual_seed(0)
    model = medseg_model("unet", SMALL_UNET)
    steps = len(cases) // batch
    rate = train_step_rate(model, loader_batches(training_loader(cases, size, batch)), steps, batch)
    return steps * batch / rate


def own_peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
