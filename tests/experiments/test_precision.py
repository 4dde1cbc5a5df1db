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


def test_int8_is_checked_on_onnx_runtime_with_a_quantised_graph(tiny_run, hc18_synthetic):
    import onnx

    result = check_precision(tiny_run, hc18_synthetic, "int8", "val", limit=2, threads=1, calibration=2)
    assert result.cases == 2 and set(result.dice) == {"float32", "int8"}
    graph = onnx.load_from_string(result.model)
    operators = {node.op_type for node in graph.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= operators  # QDQ: activations and weights in int8
    assert any(init.data_type == onnx.TensorProto.INT8 for init in graph.graph.initializer)


def test_export_int8_writes_only_a_model_that_passes_on_val(tiny_run, hc18_synthetic, tmp_path):
    import json
    import shutil

    from medseg.errors import ExportError
    from medseg.experiments.precision import export_int8
    from medseg.inference.backends import open_predictor

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    with pytest.raises(ExportError, match="nothing written"):
        export_int8(run, hc18_synthetic, calibration=2, limit=2, tolerance=-1.0)  # no change passes a negative one
    assert not (run / "model_int8.onnx").exists()
    result, check = export_int8(run, hc18_synthetic, calibration=2, limit=2, tolerance=1.0)
    assert result.onnx_path == run / "model_int8.onnx" and result.precision == "int8"
    settings = json.loads(result.settings_path.read_text())
    assert settings["precision"] == "int8" and settings["precision_check"]["cases"] == 2
    assert settings["precision_check"]["dice_int8"] == pytest.approx(check.dice["int8"])
    assert open_predictor(result.onnx_path).backend == "onnx"
    assert not (run / "model.onnx").exists()  # the float32 export's place is left alone


def test_export_command_int8_options(tiny_run, hc18_synthetic, tmp_path):
    runner = CliRunner()
    no_data = runner.invoke(app, ["export", str(tiny_run), "--int8"])
    assert no_data.exit_code == 2 and "--data" in no_data.output
    stray = runner.invoke(app, ["export", str(tiny_run), "--data", str(hc18_synthetic)])
    assert stray.exit_code == 2 and "--int8" in stray.output
    out = tmp_path / "tiny_int8.onnx"
    args = ["--int8", "--data", str(hc18_synthetic), "--calibration", "2", "--limit", "2", "--out", str(out)]
    result = runner.invoke(app, ["export", str(tiny_run), *args, "--threads", "1"])
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 0:
        assert out.is_file() and "int8 model; its float32 graph vs PyTorch" in result.output
    else:  # the tiny model's Dice moved by more than 0.002: refused, nothing written
        assert "nothing written" in result.output and not out.exists()
    assert "2 val images: mean Dice float32" in result.output or "nothing written" in result.output
