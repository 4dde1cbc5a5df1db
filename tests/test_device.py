"""The device helpers: CPU flags, and where ``infer.precision: auto`` runs bfloat16."""

from __future__ import annotations

import pytest
import torch

from medseg import device as device_module
from medseg.device import cpu_flags, cpu_name, resolve_precision

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9R14 96-Core Processor
flags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16
bugs\t\t: spectre_v1
"""


def test_cpu_flags_read_the_flags_line():
    flags = cpu_flags(CPUINFO)
    assert {"avx2", "avx512f", "avx512_bf16"} <= flags
    assert "spectre_v1" not in flags  # the bugs line is not a flag
    assert cpu_flags("processor : 0\nmodel name : an ARM core\n") == set()
    assert cpu_name(CPUINFO) == "AMD EPYC 9R14 96-Core Processor"
    assert cpu_name("processor : 0\n")  # no model name line: the platform's answer, never empty


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ("fpu avx2 fma avx512f avx512_bf16", "bfloat16"),  # AVX512-BF16 (e.g. AMD Zen 4)
        ("fpu avx2 fma avx512f amx_tile amx_bf16", "bfloat16"),  # AMX
        ("fpu avx2 fma avx512f", "float32"),  # AVX-512 without bfloat16: converted, slower
        ("", "float32"),  # no flags line (not Linux, or not x86)
    ],
)
def test_auto_precision_is_bfloat16_only_on_a_cpu_with_native_bfloat16(monkeypatch, flags, expected):
    monkeypatch.setattr(device_module, "cpu_flags", lambda: set(flags.split()))
    device_module.native_bfloat16_cpu.cache_clear()
    try:
        assert resolve_precision("auto", torch.device("cpu")) == expected
    finally:
        device_module.native_bfloat16_cpu.cache_clear()


def test_auto_precision_is_float32_off_the_cpu_and_explicit_precisions_stay(monkeypatch):
    monkeypatch.setattr(device_module, "native_bfloat16_cpu", lambda: True)
    assert resolve_precision("auto", torch.device("cuda")) == "float32"
    assert resolve_precision("float32", torch.device("cpu")) == "float32"
    assert resolve_precision("bfloat16", torch.device("cpu")) == "bfloat16"
