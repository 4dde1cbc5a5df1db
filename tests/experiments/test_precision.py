"""The check of a lower inference precision against float32 on a validation split."""

from __future__ import annotations

import math

import pytest
from typer.testing import CliRunner

from medseg.cli import app
from medseg.data.splits import load_split
from medseg.errors import ConfigError
from medseg.experiments.precision import TOLERANCE, PrecisionCheck, check_precision
from medseg.run_folder import RunFolder


def test_check_compares_both_precisions_on_the_saved_val_split(tiny_run, hc18_synthetic):
    result = check_precision(tiny_run, hc18_synthetic, "bfloat16", "val", threads=1)
    assert result.cases == len(load_split(RunFolder(tiny_run).split)["val"])
    assert set(result.dice) == {"float32", "bfloat16"} and all(math.isfinite(v) for v in result.dice.values())
    assert result.difference == pytest.approx(result.dice["bfloat16"] - result.dice["float32"])
    assert result.seconds["float32"] > 0 and result.seconds["bfloat16"] > 0
    assert f"{result.cases} val images: mean Dice float32 " in result.summary()
    assert check_precision(tiny_run, hc18_synthetic, split="val", limit=1).cases == 1
    with pytest.raises(ConfigError, match="lower precision"):
        check_precision(tiny_run, hc18_synthetic, "float32")


def test_the_check_fails_above_the_tolerance():
    def check(low: float) -> PrecisionCheck:
        return PrecisionCheck("bfloat16", "val", 2, {"float32": 0.9, "bfloat16": low}, {"float32": 1, "bfloat16": 1})

    assert check(0.9 - TOLERANCE / 2).passed and check(0.9 + TOLERANCE / 2).passed
    assert not check(0.9 - 2 * TOLERANCE).passed and not check(0.9 + 2 * TOLERANCE).passed
    assert "OVER the tolerance 0.002" in check(0.89).summary()
    pairs = PrecisionCheck(
        "bfloat16",
        "val",
        2,
        {"float32": 0.9, "bfloat16": 0.9},
        {"float32": 1, "bfloat16": 1},
        TOLERANCE,
        {"float32": [0.8, 1.0], "bfloat16": [0.85, 0.95]},
    )
    assert pairs.passed and pairs.largest_case_change == pytest.approx(0.05)


def test_cli_prints_the_comparison_and_exits_2_above_the_tolerance(tiny_run, hc18_synthetic):
    base = ["check-precision", str(tiny_run), "--data", str(hc18_synthetic), "--threads", "1"]
    result = CliRunner().invoke(app, [*base, "--tolerance", "0.5"])
    assert result.exit_code == 0, result.output
    assert "mean Dice float32" in result.output and "within the tolerance 0.5" in result.output
    refused = CliRunner().invoke(app, [*base, "--limit", "0"])
    assert refused.exit_code == 2 and "--limit" in refused.output
