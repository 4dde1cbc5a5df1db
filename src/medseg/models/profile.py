"""Size, compute and CPU latency of the registered models (``medseg models``).

Each model is built by its factory with no arguments, i.e. in its paper's configuration
(input channels, classes and widths as the factory's defaults).
"""

from __future__ import annotations

import inspect
import statistics
import time
from dataclasses import dataclass

import torch
from rich.table import Table
from torch.utils.flop_counter import FlopCounterMode

from medseg.errors import ConfigError
from medseg.models.outputs import count_parameters
from medseg.models.registry import MODELS

FLOPS_NOTE = (
    "parameters: trainable; Keras-style total: plus batch-norm running mean and variance. "
    "GFLOPs: torch.utils.flop_counter.FlopCounterMode, i.e. 2 x multiply-accumulates of convolutions and "
    "matrix products (element-wise operations, normalisation and pooling not counted)"
)


@dataclass
class ModelProfile:
    """One model's size and cost for one ``size`` x ``size`` image (batch 1)."""

    name: str
    in_channels: int
    classes: int
    parameters: int  # trainable (PyTorch)
    keras_parameters: int  # plus batch-norm moving statistics, as Keras' "Total params"
    gflops: float
    latency_ms: float | None  # median CPU time per image; None when not measured


def _default(factory: object, argument: str, fallback: int) -> int:
    parameter = inspect.signature(factory).parameters.get(argument)  # type: ignore[arg-type]
    if parameter is None or parameter.default is inspect.Parameter.empty:
        return fallback
    return int(parameter.default)


def keras_parameter_count(model: torch.nn.Module) -> int:
    """Parameters as Keras' ``Total params`` counts them.

    Keras counts a batch norm's moving mean and variance as (non-trainable) parameters, PyTorch
    keeps them as buffers: this is :func:`medseg.models.count_parameters` plus those buffers.
    """
    norms = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)
    statistics_count = sum(
        module.running_mean.numel() + module.running_var.numel()
        for module in model.modules()
        if isinstance(module, norms) and module.running_mean is not None
    )
    return count_parameters(model) + statistics_count


def count_flops(model: torch.nn.Module, image: torch.Tensor) -> int:
    """FLOPs (2 x MACs) of one forward pass of ``model`` on ``image`` ``(N, C, H, W)``."""
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(image)
    return int(counter.get_total_flops())


def measure_latency(model: torch.nn.Module, image: torch.Tensor, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time in milliseconds of ``repeats`` eval-mode forward passes under ``torch.no_grad``."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    model.eval()
    times = []
    with torch.no_grad():
        for i in range(warmup + repeats):
            started = time.perf_counter()
            model(image)
            if i >= warmup:
                times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def profile_model(
    name: str, size: int = 256, threads: int | None = 1, repeats: int = 5, latency: bool = True
) -> ModelProfile:
    """Parameters, GFLOPs and CPU latency of the registered model ``name`` in its default configuration.

    Args:
        name: registry name.
        size: side of the square test image.
        threads: torch CPU threads while timing (``None``: leave PyTorch's setting).
        repeats: timed runs (after one warm-up run); the median is reported.
        latency: measure latency (otherwise ``latency_ms`` is ``None``).

    Raises:
        ConfigError: unknown model name (the message lists the known ones).
    """
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    try:
        factory = MODELS.get(name)
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from None
    in_channels, classes = _default(factory, "in_channels", 1), _default(factory, "classes", 2)
    torch.manual_seed(0)
    model = factory().cpu().eval()
    image = torch.randn(1, in_channels, size, size)
    previous_threads = torch.get_num_threads()
    try:
        if threads:
            torch.set_num_threads(threads)
        flops = count_flops(model, image)
        latency_ms = measure_latency(model, image, repeats) if latency else None
    finally:
        torch.set_num_threads(previous_threads)
    return ModelProfile(
        name, in_channels, classes, count_parameters(model), keras_parameter_count(model), flops / 1e9, latency_ms
    )


def profile_models(
    names: list[str] | None = None, size: int = 256, threads: int | None = 1, repeats: int = 5, latency: bool = True
) -> list[ModelProfile]:
    """:func:`profile_model` for ``names`` (default: every registered model)."""
    return [profile_model(name, size, threads, repeats, latency) for name in names or MODELS.names()]


def _cells(profile: ModelProfile) -> list[str]:
    latency = "-" if profile.latency_ms is None else f"{profile.latency_ms:.1f}"
    return [
        profile.name,
        f"{profile.in_channels} -> {profile.classes}",
        f"{profile.parameters:,}",
        f"{profile.keras_parameters:,}",
        f"{profile.gflops:.2f}",
        latency,
    ]


HEADERS = ["model", "channels in -> out", "parameters", "Keras-style total", "GFLOPs", "CPU ms / image"]


def profile_table(profiles: list[ModelProfile], size: int = 256, threads: int | None = 1) -> Table:
    """A rich table of ``profiles``."""
    table = Table(title=f"models at {size}x{size}, batch 1, {threads or torch.get_num_threads()} CPU thread(s)")
    for header in HEADERS:
        table.add_column(header, justify="left" if header == "model" else "right", no_wrap=header == "model")
    for profile in profiles:
        table.add_row(*_cells(profile))
    return table


def profile_markdown(profiles: list[ModelProfile]) -> str:
    """The same rows as a Markdown table."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "|".join(["---"] + ["---:"] * (len(HEADERS) - 1)) + "|"]
    lines += ["| " + " | ".join(_cells(profile)) + " |" for profile in profiles]
    return "\n".join(lines)
