"""The roofline's share computation, precision flags and section rewriting (no timing)."""

from __future__ import annotations

import pytest
from bench import roofline

from medseg.device import cpu_flags

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
flags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16 amx_bf16 amx_tile amx_int8
bugs\t\t: spectre_v1

processor\t: 1
flags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16 amx_bf16 amx_tile amx_int8
"""


def test_precision_flags_and_bfloat16_kernels_follow_the_cpu():
    amx = cpu_flags(CPUINFO)
    assert roofline.precision_flags("bfloat16", amx) == ["avx512f", "avx512_bf16", "amx_tile", "amx_bf16"]
    assert roofline.precision_flags("float32", amx) == ["avx2", "fma", "avx512f"]
    assert roofline.bfloat16_kernels(amx).startswith("AMX")
    assert roofline.bfloat16_kernels({"avx512f", "avx512_bf16"}) == "AVX512-BF16"
    assert "no native" in roofline.bfloat16_kernels({"avx2", "fma"})
    assert roofline.precision_flags("bfloat16", {"avx2", "fma"}) == []


def test_share_is_of_the_precisions_own_peak_and_flags_a_low_peak():
    assert roofline.share(50.0, 200.0) == pytest.approx(0.25)
    assert roofline.share_text(50.0, 200.0) == "25%"
    assert roofline.share_text(250.0, 200.0).startswith("125% (above the measured peak")
    with pytest.raises(ValueError):
        roofline.share(1.0, 0.0)


def _measured(float32_seconds: float, bfloat16_seconds: float) -> dict:
    workload = {"gflop": 10.0, "float32_seconds": float32_seconds, "bfloat16_seconds": bfloat16_seconds}
    return {
        "peaks": {"float32": {"gflops_per_s": 100.0, "size": 4096}, "bfloat16": {"gflops_per_s": 400.0, "size": 2048}},
        "inference": workload,
        "training": dict(workload),
        "sizes": {"inference": 256, "training": 128, "batch": 8},
    }


def test_section_puts_each_workload_against_its_precisions_peak():
    measured = _measured(0.2, 0.05)  # 50 GFLOP/s float32, 200 GFLOP/s bfloat16
    lines = roofline.section(measured, 2, cpu_flags(CPUINFO))
    rows = [line for line in lines if line.startswith(("| inference", "| training"))]
    assert len(rows) == 2
    assert "| 200 | 50.0 (50%) | 50 | 200.0 (50%) | 4.00 |" in rows[0]
    assert "| bfloat16 | 400.0 | 2048 | AMX tiles (amx_bf16)" in "\n".join(lines)
    assert "2 torch thread(s)" in lines[2]
    assert roofline.inference_share(measured) == pytest.approx(0.5)


def test_replace_section_keeps_the_rest_of_the_page():
    page = "# Benchmarks\n\n## Roofline\n\nold figures\n\n## Cost growth\n\nkept\n"
    new = roofline.replace_section(page, ["## Roofline", "", "new figures"])
    assert "old figures" not in new and "new figures\n\n## Cost growth\n\nkept\n" in new
    assert new.startswith("# Benchmarks\n\n## Roofline")
    assert roofline.replace_section("# B\n", ["## Roofline"]).endswith("\n\n## Roofline\n")
    inserted = roofline.replace_section(page + "\n## Targets\n\nrows\n", ["## New", "", "x"], "## New")
    assert inserted.endswith("kept\n\n## New\n\nx\n\n## Targets\n\nrows\n")
