"""The benchmark runs end to end (toy sizes) and writes every section with its targets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_quick_writes_every_section(tmp_path):
    out = tmp_path / "BENCHMARKS.md"
    subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--threads", "1", "--out", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=600,
    )
    page = out.read_text()
    for heading in ("Training throughput", "Data pipeline", "Inference latency", "Roofline", "Cost growth", "Targets"):
        assert f"## {heading}" in page
    targets = page.split("## Targets")[1]
    assert targets.count("| met") + targets.count("| missed") == 4
    assert "| mobile_unet | " in page and "| attention_unet | 32 | " in page
