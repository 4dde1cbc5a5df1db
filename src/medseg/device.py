"""Choosing the torch device, and what its CPU runs natively."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import torch

BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")  # either gives native bfloat16 products


def _cpuinfo_field(key: str, cpuinfo: str | None) -> str | None:
    """The first non-empty ``key`` line of ``/proc/cpuinfo`` (or of ``cpuinfo`` text); None where there is none."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return None
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == key and value.strip():
            return value.strip()
    return None


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU's feature flags: the ``flags`` line of ``/proc/cpuinfo`` (or of ``cpuinfo`` text); empty
    where there is none (not Linux, or not x86)."""
    return set((_cpuinfo_field("flags", cpuinfo) or "").split())


def cpu_name(cpuinfo: str | None = None) -> str:
    """The CPU's model name (``model name`` of ``/proc/cpuinfo``), or ``platform.processor()``'s answer."""
    import platform

    return _cpuinfo_field("model name", cpuinfo) or platform.processor() or "unknown CPU"


@cache
def native_bfloat16_cpu() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX); elsewhere bfloat16 is converted
    to float32 and runs slower than float32 itself."""
    return any(flag in cpu_flags() for flag in BFLOAT16_FLAGS)


def resolve_precision(precision: str, device: torch.device) -> str:
    """``infer.precision`` as it runs on ``device``: ``"auto"`` is ``"bfloat16"`` on a CPU with native
    bfloat16 (:func:`native_bfloat16_cpu`) and ``"float32"`` elsewhere; other names are returned as they are."""
    if precision != "auto":
        return precision
    return "bfloat16" if device.type == "cpu" and native_bfloat16_cpu() else "float32"


def resolve_device(name: str) -> torch.device:
    """``"auto"``: CUDA when available, else CPU; any other name is passed to :class:`torch.device`.

    Raises:
        ConfigError: a CUDA device asked for where there is none (or not that many).
    """
    from medseg.errors import ConfigError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"train.device={name!r}: not a device name; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise ConfigError(f"train.device={name!r}: no such CUDA device on this computer; use auto or cpu")
    return device


def busy_cpu_warning(threads: int | None = None) -> str | None:
    """A warning when the CPU is already busy and PyTorch would run several threads on it (None otherwise).

    With every core taken by other processes, PyTorch's threads wait on each other: on a 2-core machine
    at load average 7, a CT volume's slices took 24-49 s on two threads and 4-5 s on one (docs/liver.md).

    Args:
        threads: the threads asked for (None: PyTorch's default, one per core).
    """
    import os

    cores = os.cpu_count() or 1
    threads = torch.get_num_threads() if threads is None else threads
    if threads <= 1 or torch.cuda.is_available() or not hasattr(os, "getloadavg"):
        return None
    load = os.getloadavg()[0]
    if load < cores:
        return None
    return (
        f"the CPU is busy (load average {load:.1f} on {cores} cores): PyTorch's {threads} threads will wait on "
        "each other; --threads 1 is faster on a busy machine"
    )
